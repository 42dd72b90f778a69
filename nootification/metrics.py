"""Prometheus metrics: what the services count as they work, and what a scrape reads from Redis and the DB.

Counters and histograms live in each process. With PROMETHEUS_MULTIPROC_DIR set, prometheus-client keeps
them in files in that directory and `/metrics` adds up every process's files; without it, the process's
own registry is exposed. The state gauges (queue, workers, scheduler, breakers, dead letters, silent
locations) are computed by `StateCollector` once per scrape, by whichever process serves `/metrics`.
"""

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from wsgiref.simple_server import WSGIServer

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.registry import DeferredJobRegistry, FailedJobRegistry, StartedJobRegistry
from rq.utils import utcparse
from rq_scheduler import Scheduler
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nootification import senders
from nootification.delivery.circuit import KEY_PREFIX as BREAKER_KEY_PREFIX
from nootification.extensions import db, redis_queue
from nootification.models import (
    DEAD_LETTER_STATUSES,
    Alert,
    AttemptOutcomeKind,
    Delivery,
    DeliveryStatus,
    Severity,
    severity_for,
    utcnow,
)

OTHER = "other"
ALERT_OUTCOMES = ("created", "duplicate", "conflict")
FINAL_OUTCOMES = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.EXPIRED: "expired",
}
RESCHEDULE_REASONS = ("backoff", "circuit_open")
SWEEP_REASONS = ("unqueued", "lost_job", "lease_expired")
WEBHOOK_ENDPOINT = "webhooks.receive_alert"
# Webhook refusals by status: a 409 is an alert outcome (conflict), counted with the alerts.
WEBHOOK_REJECTIONS = {400: "malformed_json", 413: "too_large", 415: "not_json", 422: "invalid"}
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEAD_LETTER_WINDOW = timedelta(hours=24)
BUSY_WINDOW = timedelta(days=7)
QUEUE_HEAD_PROBE = 10

# Seconds from a quarter second (a healthy push) to an hour (the standard freshness limit).
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

ALERTS_RECEIVED = Counter(
    "nootification_alerts_received_total",
    "Alerts posted to the webhook, by label, severity and outcome (created, duplicate, conflict).",
    ["label", "severity", "outcome"],
)
WEBHOOK_REJECTED = Counter(
    "nootification_webhook_rejected_total",
    "Webhook requests refused before an alert was read, by reason.",
    ["reason"],
)
DELIVERIES = Counter(
    "nootification_deliveries_total",
    "Deliveries that reached a final status, by channel, severity and outcome (sent, failed, expired).",
    ["channel", "severity", "outcome"],
)
ATTEMPTS = Counter(
    "nootification_delivery_attempts_total",
    "Send attempts, by channel and outcome (sent, transient, permanent).",
    ["channel", "outcome"],
)
RESCHEDULES = Counter(
    "nootification_delivery_reschedules_total",
    "Deliveries put aside for a later try, by channel and reason (backoff, circuit_open).",
    ["channel", "reason"],
)
SWEEP_REQUEUES = Counter(
    "nootification_sweeper_requeued_total",
    "Deliveries the sweeper queued again, by reason (unqueued, lost_job, lease_expired).",
    ["reason"],
)
LATENCY_FROM_RECEIPT = Histogram(
    "nootification_delivery_latency_from_receipt_seconds",
    "Seconds from the alert's receipt to its delivery being sent, by channel and severity.",
    ["channel", "severity"],
    buckets=LATENCY_BUCKETS,
)
LATENCY_FROM_SPOTTED = Histogram(
    "nootification_delivery_latency_from_spotted_seconds",
    "Seconds from the alert's time_spotted (the camera's clock) to its delivery being sent.",
    ["channel", "severity"],
    buckets=LATENCY_BUCKETS,
)
HTTP_DURATION = Histogram(
    "nootification_http_request_duration_seconds",
    "API request durations, by method, endpoint (the URL rule) and status.",
    ["method", "endpoint", "status"],
    buckets=HTTP_BUCKETS,
)


def alert_label(label: str) -> str:
    """The label as a metric label value: a configured label, else "other", so values stay bounded."""
    return label if label in current_app.config["ALERT_LABELS"] else OTHER


def record_alert(label: str, severity: Severity, outcome: str) -> None:
    """Count a posted alert: created, duplicate or conflict."""
    ALERTS_RECEIVED.labels(alert_label(label), severity.value, outcome).inc()


def record_attempt(channel: str, outcome: AttemptOutcomeKind) -> None:
    """Count one send attempt."""
    ATTEMPTS.labels(channel, outcome.value).inc()


def record_reschedule(channel: str, reason: str) -> None:
    """Count a delivery put aside for later: after backoff, or while its circuit is open."""
    RESCHEDULES.labels(channel, reason).inc()


def record_sweep(*, unqueued: int, lost_job: int, lease_expired: int) -> None:
    """Count what one sweep queued again, by why it had to."""
    for reason, count in (("unqueued", unqueued), ("lost_job", lost_job), ("lease_expired", lease_expired)):
        if count:
            SWEEP_REQUEUES.labels(reason).inc(count)


def record_delivery_final(
    *,
    channel: str,
    severity: Severity,
    status: DeliveryStatus,
    received_at: datetime,
    time_spotted: datetime,
    sent_at: datetime | None = None,
) -> None:
    """Count a delivery that reached a final status; a sent one also feeds both latency histograms."""
    DELIVERIES.labels(channel, severity.value, FINAL_OUTCOMES[status]).inc()
    if status is DeliveryStatus.SENT:
        sent_at = sent_at or utcnow()
        LATENCY_FROM_RECEIPT.labels(channel, severity.value).observe(_seconds(received_at, sent_at))
        LATENCY_FROM_SPOTTED.labels(channel, severity.value).observe(_seconds(time_spotted, sent_at))


def _seconds(start: datetime, end: datetime) -> float:
    # A camera clock ahead of ours would make the latency negative; it is at least zero.
    return max(0.0, (end - start).total_seconds())


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe_request(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None:
        return response
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in HTTP_METHODS else OTHER
    HTTP_DURATION.labels(method, endpoint, str(response.status_code)).observe(time.perf_counter() - started)
    if request.endpoint == WEBHOOK_ENDPOINT and response.status_code in WEBHOOK_REJECTIONS:
        WEBHOOK_REJECTED.labels(WEBHOOK_REJECTIONS[response.status_code]).inc()
    return response


def _initialise_series(config: Mapping) -> None:
    # Every expected series exists from the start at zero, so rates and ratios have a baseline
    # and a dashboard shows 0 rather than "no data" before the first event.
    for label in config["ALERT_LABELS"]:
        severity = severity_for(label, config["CRITICAL_LABELS"]).value
        for outcome in ALERT_OUTCOMES:
            ALERTS_RECEIVED.labels(label, severity, outcome)
    for reason in WEBHOOK_REJECTIONS.values():
        WEBHOOK_REJECTED.labels(reason)
    for reason in SWEEP_REASONS:
        SWEEP_REQUEUES.labels(reason)
    for channel in senders.channels():
        for severity in Severity:
            LATENCY_FROM_RECEIPT.labels(channel, severity.value)
            LATENCY_FROM_SPOTTED.labels(channel, severity.value)
            for outcome in FINAL_OUTCOMES.values():
                DELIVERIES.labels(channel, severity.value, outcome)
        for attempt_outcome in AttemptOutcomeKind:
            ATTEMPTS.labels(channel, attempt_outcome.value)
        for reason in RESCHEDULE_REASONS:
            RESCHEDULES.labels(channel, reason)


def register_metrics(app: Flask) -> None:
    """Time every request by endpoint and status, and create the metric series at zero."""
    _initialise_series(app.config)
    app.before_request(_start_timer)
    app.after_request(_observe_request)


def process_registry(multiproc_dir: str) -> CollectorRegistry:
    """The counters and histograms: every process's from `multiproc_dir` when set, else this process's."""
    if not multiproc_dir:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiproc_dir)
    return registry


def start_metrics_server(config: Mapping) -> WSGIServer | None:
    """Serve this process's metrics on METRICS_ADDR:METRICS_PORT in a thread, when a port is configured."""
    if not config["METRICS_PORT"]:
        return None
    server, _thread = start_http_server(
        config["METRICS_PORT"],
        addr=config["METRICS_ADDR"],
        registry=process_registry(config["PROMETHEUS_MULTIPROC_DIR"]),
    )
    return server


def live_workers(queue: Queue) -> list[Worker]:
    """RQ workers of the queue whose registration has not expired (WORKER_TTL + 60 s after a heartbeat)."""
    return Worker.all(queue=queue)


def live_schedulers(connection: Redis) -> int:
    """rq-scheduler processes whose heartbeat key lives (interval + 10 s) and that registered no death."""
    keys = list(connection.scan_iter(match=f"{Scheduler.redis_scheduler_namespace_prefix}*"))
    with connection.pipeline(transaction=False) as pipeline:
        for key in keys:
            pipeline.hexists(key, "death")
        dead = pipeline.execute()
    return sum(1 for is_dead in dead if not is_dead)


class StateCollector:
    """The service's state read at scrape time from Redis and the database; a failing source reports 0."""

    def __init__(self, *, queue: Queue, session: Session, config: Mapping, now: float | None = None):
        self.queue = queue
        self.connection: Redis = queue.connection
        self.session = session
        self.config = config
        self.now = time.time() if now is None else now
        self.channels = senders.channels()

    def collect(self) -> Iterator[Metric]:
        """Every state gauge, then whether each source answered."""
        up = GaugeMetricFamily(
            "nootification_state_source_up",
            "Whether /metrics could read the state it reports from this source (redis, database).",
            labels=["source"],
        )
        for source, read, failure in (
            ("redis", self._redis_state, RedisError),
            ("database", self._database_state, SQLAlchemyError),
        ):
            try:
                families = list(read())
            except failure:
                if source == "database":
                    self.session.rollback()
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
                yield from families
        yield up

    def _channel(self, channel: str) -> str:
        return channel if channel in self.channels else OTHER

    def _per_channel(self, name: str, documentation: str, counts: dict[str, int]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, documentation, labels=["channel"])
        for channel in sorted(set(self.channels) | set(counts)):
            family.add_metric([channel], counts.get(channel, 0))
        return family

    def _redis_state(self) -> Iterable[Metric]:
        yield self._queue_jobs()
        yield GaugeMetricFamily(
            "nootification_queue_oldest_job_age_seconds",
            "Seconds the job at the head of the delivery queue has waited (0 when the queue is empty).",
            value=self._oldest_job_age(),
        )
        yield from self._workers()
        yield GaugeMetricFamily(
            "nootification_schedulers_alive",
            "rq-scheduler processes whose heartbeat key is alive in Redis.",
            value=live_schedulers(self.connection),
        )
        yield self._per_channel(
            "nootification_circuit_breakers_open",
            "Circuit breakers (one per channel and destination host) open right now, per channel.",
            self._open_breakers(),
        )

    def _queue_jobs(self) -> GaugeMetricFamily:
        queue, connection = self.queue, self.connection
        # Registries are counted without RQ's cleanup, so a scrape never changes what it measures.
        counts = {
            "queued": queue.count,
            "started": StartedJobRegistry(queue=queue).get_job_count(cleanup=False),
            "deferred": DeferredJobRegistry(queue=queue).get_job_count(cleanup=False),
            "failed": FailedJobRegistry(queue=queue).get_job_count(cleanup=False),
            "scheduled": connection.zcard(Scheduler.scheduled_jobs_key),
        }
        family = GaugeMetricFamily(
            "nootification_queue_jobs",
            "Jobs of the delivery queue by state: queued (waiting for a worker), started, deferred, failed "
            "(RQ's registries) and scheduled (rq-scheduler's retries, plus the periodic sweep).",
            labels=["state"],
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        return family

    def _oldest_job_age(self) -> float:
        # The head of the list is the oldest job; a head whose job hash is gone is skipped.
        for job_id in self.connection.lrange(self.queue.key, 0, QUEUE_HEAD_PROBE - 1):
            enqueued_at = self.connection.hget(f"rq:job:{job_id.decode()}", "enqueued_at")
            if enqueued_at:
                return max(0.0, self.now - utcparse(enqueued_at.decode()).timestamp())
        return 0.0

    def _workers(self) -> Iterable[GaugeMetricFamily]:
        workers = live_workers(self.queue)
        heartbeats = [worker.last_heartbeat.timestamp() for worker in workers if worker.last_heartbeat]
        yield GaugeMetricFamily(
            "nootification_workers_alive",
            "RQ workers of the delivery queue whose registration has not expired.",
            value=len(workers),
        )
        yield GaugeMetricFamily(
            "nootification_worker_oldest_heartbeat_age_seconds",
            "Seconds since the least recent heartbeat among registered workers (0 with no worker).",
            value=max((self.now - heartbeat for heartbeat in heartbeats), default=0.0),
        )

    def _open_breakers(self) -> dict[str, int]:
        keys = list(self.connection.scan_iter(match=f"{BREAKER_KEY_PREFIX}*:open_until"))
        counts: dict[str, int] = {}
        if not keys:
            return counts
        for key, open_until in zip(keys, self.connection.mget(keys), strict=True):
            # nootification:breaker:<channel>:<host>:open_until; the host is never a label.
            channel = self._channel(key.decode()[len(BREAKER_KEY_PREFIX) :].split(":", 1)[0])
            if open_until is not None and self.now < float(open_until):
                counts[channel] = counts.get(channel, 0) + 1
        return counts

    def _database_state(self) -> Iterable[Metric]:
        now = datetime.fromtimestamp(self.now, UTC)
        dead = self.session.execute(
            sa.select(Delivery.channel, sa.func.count())
            .where(
                Delivery.status.in_(DEAD_LETTER_STATUSES),
                Delivery.created_at >= now - DEAD_LETTER_WINDOW,
            )
            .group_by(Delivery.channel)
        )
        counts: dict[str, int] = {}
        for channel, count in dead:
            counts[self._channel(channel)] = counts.get(self._channel(channel), 0) + count
        yield self._per_channel(
            "nootification_dead_letters",
            "Failed or expired deliveries created in the last 24 hours and not sent again, per channel.",
            counts,
        )
        busy_and_quiet = (
            sa.select(Alert.location_id)
            .where(Alert.received_at >= now - BUSY_WINDOW)
            .group_by(Alert.location_id)
            .having(
                sa.func.count() >= self.config["SILENT_LOCATION_MIN_ALERTS"],
                sa.func.max(Alert.received_at) < now - timedelta(hours=self.config["SILENT_LOCATION_HOURS"]),
            )
        )
        yield GaugeMetricFamily(
            "nootification_locations_silent",
            "Locations with at least SILENT_LOCATION_MIN_ALERTS alerts over 7 days and none for "
            "SILENT_LOCATION_HOURS hours.",
            value=self.session.scalar(sa.select(sa.func.count()).select_from(busy_and_quiet.subquery())),
        )


def render_metrics() -> tuple[bytes, str]:
    """The text exposition of every process's counters plus the state read now, and its content type."""
    registry = CollectorRegistry()
    registry.register(process_registry(current_app.config["PROMETHEUS_MULTIPROC_DIR"]))
    registry.register(StateCollector(queue=redis_queue.queue, session=db.session, config=current_app.config))
    return generate_latest(registry), CONTENT_TYPE_LATEST
