"""The domain's side of the metrics: the label values every series starts with, and the state read per scrape.

The state gauges (queue, workers, scheduler, breakers, dead letters, unclaimed critical alerts, silent
locations) are computed by
`StateCollector` once per scrape, by whichever process serves `/metrics`: the API, never a worker's own
metrics server.
"""

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from prometheus_client.core import GaugeMetricFamily, Metric
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nootification import senders
from nootification.delivery import queue
from nootification.delivery.circuit import KEY_PREFIX as BREAKER_KEY_PREFIX
from nootification.extensions import db, redis_queue
from nootification.models import (
    DEAD_LETTER_STATUSES,
    Alert,
    AttemptOutcomeKind,
    Delivery,
    Outcome,
    Severity,
    severity_for,
)
from nootification.observability.metrics import OTHER, MetricSeries
from nootification.redis_connection import SCAN_BATCH
from nootification.services.roster import uncovered_shops

DEAD_LETTER_WINDOW = timedelta(hours=24)
BUSY_WINDOW = timedelta(days=7)


def expected_series(config: Mapping) -> MetricSeries:
    """The configured alert labels with their severities, the channels, severities and attempt outcomes."""
    return MetricSeries(
        label_severities={
            label: severity_for(label, config["CRITICAL_LABELS"]).value for label in config["ALERT_LABELS"]
        },
        channels=senders.channels(),
        severities=[severity.value for severity in Severity],
        attempt_outcomes=[outcome.value for outcome in AttemptOutcomeKind],
        staff_outcomes=[outcome.value for outcome in Outcome],
    )


class StateCollector:
    """The service's state read at scrape time from Redis and the database; a failing source reports 0."""

    def __init__(self, *, connection: Redis, session: Session, config: Mapping, now: float | None = None):
        self.connection = connection
        self.session = session
        self.config = config
        self.now = time.time() if now is None else now
        self.channels = senders.channels()
        self.known_channels = frozenset(senders.every_channel())

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
        return channel if channel in self.known_channels else OTHER

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
            value=queue.live_schedulers(self.connection),
        )
        yield self._per_channel(
            "nootification_circuit_breakers_open",
            "Circuit breakers (one per channel and destination host) open right now, per channel.",
            self._open_breakers(),
        )

    def _queue_jobs(self) -> GaugeMetricFamily:
        counts = queue.job_counts()
        family = GaugeMetricFamily(
            "nootification_queue_jobs",
            "Jobs of the delivery queue by state: queued (waiting for a worker), started, deferred, failed "
            "(RQ's registries) and scheduled (rq-scheduler's periodic jobs: the sweep, the purge).",
            labels=["state"],
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        return family

    def _oldest_job_age(self) -> float:
        return queue.oldest_job_age(self.now)

    def _workers(self) -> Iterable[GaugeMetricFamily]:
        workers = queue.live_workers()
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
        keys = list(self.connection.scan_iter(match=f"{BREAKER_KEY_PREFIX}*:open_until", count=SCAN_BATCH))
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
            "Failed or expired outbound records (deliveries, vendor events, notices) created in the last 24 "
            "hours and not sent again, per channel.",
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
            "nootification_critical_alerts_unclaimed",
            "Critical alerts still fresh (within FRESHNESS_CRITICAL) that nobody has claimed UNCLAIMED_AFTER "
            "seconds after their receipt.",
            value=self.session.scalar(
                sa.select(sa.func.count()).where(
                    Alert.severity == Severity.CRITICAL,
                    Alert.claimed_by_id.is_(None),
                    Alert.received_at >= now - timedelta(seconds=self.config["FRESHNESS_CRITICAL"]),
                    Alert.received_at < now - timedelta(seconds=self.config["UNCLAIMED_AFTER"]),
                )
            ),
        )
        yield GaugeMetricFamily(
            "nootification_locations_uncovered",
            "Shops open now whose roster has nobody on shift: their critical alerts go to the off-hours "
            "tier, their standard ones to nobody.",
            value=len(uncovered_shops(now)),
        )
        yield GaugeMetricFamily(
            "nootification_locations_silent",
            "Locations with at least SILENT_LOCATION_MIN_ALERTS alerts over 7 days and none for "
            "SILENT_LOCATION_HOURS hours.",
            value=self.session.scalar(sa.select(sa.func.count()).select_from(busy_and_quiet.subquery())),
        )


def state_collector() -> StateCollector:
    """The collector of the current app's state: its delivery queue, database session and configuration."""
    return StateCollector(connection=redis_queue.connection, session=db.session, config=current_app.config)
