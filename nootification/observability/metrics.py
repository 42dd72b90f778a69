"""Prometheus counters and histograms: what the services count as they work, and how long requests take.

Counters and histograms live in each process (see `metrics_server` for how they are added up). The domain
names its label values (channels, severities, attempt outcomes) as plain strings in `MetricSeries`, so every
expected series exists at zero from the start; `render_metrics` adds whatever state the caller reads at scrape
time.
"""

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

from nootification.observability.metrics_server import process_registry

OTHER = "other"
ALERT_OUTCOMES = ("created", "duplicate", "conflict")
SENT = "sent"
FINAL_OUTCOMES = (SENT, "failed", "expired")
RESCHEDULE_REASONS = ("backoff", "circuit_open")
SEEN = "seen"
RECEIPT_STATES = ("received", SEEN)
SMS_FINAL_STATUSES = ("delivered", "undelivered", "failed")
VOICE_FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
VOICE_KEY_RESULTS = ("claimed", "yours", "taken", "closed", "repeat", "goodbye", "unknown")
SWEEP_REASONS = ("unqueued", "lost_job", "lease_expired")
WEBHOOK_ENDPOINT = "webhooks.receive_alert"
# Webhook refusals by status: a 409 is an alert outcome (conflict), counted with the alerts.
WEBHOOK_REJECTIONS = {400: "malformed_json", 413: "too_large", 415: "not_json", 422: "invalid"}
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Seconds from a quarter second (a healthy push) to an hour (the standard freshness limit).
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600)
# Seconds from an alert's receipt to its claim: from a hand already on the phone to the end of freshness.
CLAIM_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900)
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
JOBS_REFUSED = Counter(
    "nootification_jobs_refused_total",
    "RQ jobs refused unrun: their call was not JSON naming one of the service's job functions (a job planted "
    "in Redis, or pickled before the upgrade).",
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
CLAIM_DELAY = Histogram(
    "nootification_claim_seconds",
    "Seconds from an alert's receipt to the first \"I'm on it\", by label and severity.",
    ["label", "severity"],
    buckets=CLAIM_BUCKETS,
)
ALERT_OUTCOMES_RECORDED = Counter(
    "nootification_alert_outcomes_total",
    "Outcomes recorded by staff (a corrected one counts again), by label and outcome.",
    ["label", "outcome"],
)
ESCALATION_STEPS = Counter(
    "nootification_escalation_steps_total",
    "Escalation steps taken for unclaimed critical alerts, by the tier they told.",
    ["tier"],
)
LADDER_STEPS = Counter(
    "nootification_ladder_steps_total",
    "Critical alerts whose shop's ladder reached a later step (someone not yet on it was sent that step), by "
    "step (1: the second); each alert once per step.",
    ["step"],
)
LADDER_LAST_STEP = Counter(
    "nootification_ladder_last_step_unclaimed_total",
    "Critical alerts that reached the last step of their shop's ladder with nobody on them.",
)
LADDER_CANCELLED = Counter(
    "nootification_ladder_steps_cancelled_total",
    "Later ladder steps and calls cancelled unsent because someone acted on the alert first (deliveries).",
)
GROUP_REASONS = ("burst", "closed")
GROUPS_OPENED = Counter(
    "nootification_alert_groups_total",
    "Groups of alerts opened, by reason: burst (alerts of one label at a shop within its window), closed (a "
    "closed shop's standard alerts until its opening).",
    ["reason"],
)
HELD_REASONS = ("grouped", "capped", "closed")
QUIET_REASONS = ("grouped", "closed", "silenced", "uncovered", "stale")
MESSAGES_HELD = Counter(
    "nootification_messages_suppressed_total",
    "Messages not sent when their alert came, by reason: grouped (a burst's later alert, summed up at the "
    "window's end), capped (the person's cap per shop and 10 minutes), closed (the shop was closed: summed "
    "up at its opening); one per person and channel.",
    ["reason"],
)
ALERTS_QUIETED = Counter(
    "nootification_alerts_quieted_total",
    "Alerts stored that rang nobody at once, by reason: grouped, closed, silenced, uncovered (a roster with "
    "nobody on shift), stale (a batch's item past its freshness when it came).",
    ["reason"],
)
CONTACT_POINTS_GONE = Counter(
    "nootification_contact_points_gone_total",
    "Contact points turned off because their provider said the subscription or device token is gone.",
    ["channel"],
)
RECEIPTS = Counter(
    "nootification_delivery_receipts_total",
    "Deliveries the phone reported, by channel and state (received, seen): each delivery once per state.",
    ["channel", "state"],
)
SMS_STATUSES = Counter(
    "nootification_sms_status_receipts_total",
    "SMS the provider reported final (Twilio's status callback), by status: delivered, undelivered, failed; "
    "each attempt once.",
    ["status"],
)
SMS_STATUS_UNMATCHED = Counter(
    "nootification_sms_status_unmatched_total",
    "Twilio SMS status callbacks naming a message SID that no attempt sent.",
)
SMS_REPLIES = Counter(
    "nootification_sms_replies_total",
    "SMS received in answer to alert SMS, by what they did: claimed, yours, taken, outcome, recorded, "
    "no_alert, help, quiet (no second help within 5 minutes), repeat (a MessageSid already heard), stranger "
    "(a number that is no staff's: nothing done, nothing answered).",
    ["result"],
)
VOICE_CALLS = Counter(
    "nootification_voice_calls_total",
    "Calls Twilio reported ended (its status callback), by final status: completed, busy, no-answer, failed, "
    "canceled; each attempt once.",
    ["status"],
)
VOICE_STATUS_UNMATCHED = Counter(
    "nootification_voice_status_unmatched_total",
    "Twilio call status callbacks naming a call SID that no attempt placed.",
)
VOICE_KEYS = Counter(
    "nootification_voice_keys_total",
    "Keys pressed during an alert call (Twilio's Gather result), by what they did: claimed, yours, taken "
    "(someone else is on it), closed (the alert has an outcome), repeat (another key or silence: said once "
    "more), goodbye (another key or silence the second time), unknown (no such call).",
    ["result"],
)
VOICE_NUMBERS_PAUSED = Counter(
    "nootification_voice_numbers_paused_total",
    "Phone numbers paused after VOICE_PAUSE_AFTER_FAILURES calls in a row ended failed.",
)
SMS_REPLY_RESULTS = (
    "claimed",
    "yours",
    "taken",
    "outcome",
    "recorded",
    "no_alert",
    "help",
    "quiet",
    "repeat",
    "stranger",
)
SEEN_DELAY = Histogram(
    "nootification_alert_to_seen_seconds",
    "Seconds from an alert's receipt to its notification being opened on the phone, by channel and severity.",
    ["channel", "severity"],
    buckets=LATENCY_BUCKETS,
)
HTTP_DURATION = Histogram(
    "nootification_http_request_duration_seconds",
    "API request durations, by method, endpoint (the URL rule) and status.",
    ["method", "endpoint", "status"],
    buckets=HTTP_BUCKETS,
)


class MetricSeries(NamedTuple):
    """The domain's label values, as plain strings, that every series is created with at zero."""

    label_severities: Mapping[str, str]
    channels: Sequence[str]
    severities: Sequence[str]
    attempt_outcomes: Sequence[str]
    staff_outcomes: Sequence[str] = ()


def alert_label(label: str) -> str:
    """The label as a metric label value: a configured label, else "other", so values stay bounded."""
    return label if label in current_app.config["ALERT_LABELS"] else OTHER


def record_alert(label: str, severity: str, outcome: str) -> None:
    """Count a posted alert: created, duplicate or conflict."""
    ALERTS_RECEIVED.labels(alert_label(label), severity, outcome).inc()


def record_attempt(channel: str, outcome: str) -> None:
    """Count one send attempt."""
    ATTEMPTS.labels(channel, outcome).inc()


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
    severity: str,
    status: str,
    received_at: datetime,
    time_spotted: datetime,
    sent_at: datetime | None = None,
) -> None:
    """Count a delivery that reached a final status; a sent one also feeds both latency histograms."""
    if status not in FINAL_OUTCOMES:
        raise ValueError(f"not a final status: {status}")
    DELIVERIES.labels(channel, severity, status).inc()
    if status == SENT:
        sent_at = sent_at or datetime.now(UTC)
        LATENCY_FROM_RECEIPT.labels(channel, severity).observe(_seconds(received_at, sent_at))
        LATENCY_FROM_SPOTTED.labels(channel, severity).observe(_seconds(time_spotted, sent_at))


def record_claim(label: str, severity: str, received_at: datetime, claimed_at: datetime) -> None:
    """Observe how long an alert waited for its first "I'm on it"."""
    CLAIM_DELAY.labels(alert_label(label), severity).observe(_seconds(received_at, claimed_at))


def record_outcome(label: str, outcome: str) -> None:
    """Count an outcome recorded by staff."""
    ALERT_OUTCOMES_RECORDED.labels(alert_label(label), outcome).inc()


def record_escalation(tier: int) -> None:
    """Count an escalation step, by the tier it told."""
    ESCALATION_STEPS.labels(str(tier)).inc()


def record_ladder_step(step: int, last: bool) -> None:
    """Count an alert reaching a later step of its shop's ladder; the last one also on its own."""
    LADDER_STEPS.labels(str(step)).inc()
    if last:
        LADDER_LAST_STEP.inc()


def record_ladder_cancelled(count: int) -> None:
    """Count later steps (or calls) cancelled because someone acted first."""
    LADDER_CANCELLED.inc(count)


def record_held(reason: str, messages: int) -> None:
    """Count messages not sent when their alert came, for this reason."""
    if messages:
        MESSAGES_HELD.labels(reason).inc(messages)


def record_group_opened(reason: str) -> None:
    """Count a group of alerts opened, for this reason."""
    GROUPS_OPENED.labels(reason).inc()


def record_quieted(reason: str) -> None:
    """Count an alert that rang nobody at once, for this reason."""
    ALERTS_QUIETED.labels(reason).inc()


def record_contact_point_gone(channel: str) -> None:
    """Count a contact point turned off because its provider said it is gone."""
    CONTACT_POINTS_GONE.labels(channel).inc()


def record_receipt(channel: str, severity: str, state: str, received_at: datetime, at: datetime) -> None:
    """Count a delivery newly reported `state` by the phone; a first "seen" also feeds the seen histogram."""
    RECEIPTS.labels(channel, state).inc()
    if state == SEEN:
        SEEN_DELAY.labels(channel, severity).observe(_seconds(received_at, at))


def record_sms_status(status: str) -> None:
    """Count an SMS the provider newly reported final, by its status."""
    SMS_STATUSES.labels(status).inc()


def record_sms_status_unmatched() -> None:
    """Count an SMS status callback for a message we did not send (or no longer know)."""
    SMS_STATUS_UNMATCHED.inc()


def record_call_status(status: str) -> None:
    """Count a call Twilio newly reported ended, by its final status."""
    VOICE_CALLS.labels(status).inc()


def record_call_status_unmatched() -> None:
    """Count a call status callback for a call we did not place (or no longer know)."""
    VOICE_STATUS_UNMATCHED.inc()


def record_voice_key(result: str) -> None:
    """Count a key pressed (or silence) during an alert call, by what it did."""
    VOICE_KEYS.labels(result).inc()


def record_number_paused() -> None:
    """Count a phone number paused because its calls kept failing."""
    VOICE_NUMBERS_PAUSED.inc()


def record_sms_reply(result: str) -> None:
    """Count an SMS received in answer to an alert SMS, by what it did."""
    SMS_REPLIES.labels(result).inc()


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


def _initialise_series(series: MetricSeries) -> None:
    # Every expected series exists from the start at zero, so rates and ratios have a baseline
    # and a dashboard shows 0 rather than "no data" before the first event.
    for label, severity in series.label_severities.items():
        for outcome in ALERT_OUTCOMES:
            ALERTS_RECEIVED.labels(label, severity, outcome)
        CLAIM_DELAY.labels(label, severity)
        for staff_outcome in series.staff_outcomes:
            ALERT_OUTCOMES_RECORDED.labels(label, staff_outcome)
    ESCALATION_STEPS.labels("2")
    LADDER_STEPS.labels("1")
    for status in SMS_FINAL_STATUSES:
        SMS_STATUSES.labels(status)
    for result in SMS_REPLY_RESULTS:
        SMS_REPLIES.labels(result)
    for status in VOICE_FINAL_STATUSES:
        VOICE_CALLS.labels(status)
    for result in VOICE_KEY_RESULTS:
        VOICE_KEYS.labels(result)
    for reason in WEBHOOK_REJECTIONS.values():
        WEBHOOK_REJECTED.labels(reason)
    for reason in HELD_REASONS:
        MESSAGES_HELD.labels(reason)
    for reason in GROUP_REASONS:
        GROUPS_OPENED.labels(reason)
    for reason in QUIET_REASONS:
        ALERTS_QUIETED.labels(reason)
    for reason in SWEEP_REASONS:
        SWEEP_REQUEUES.labels(reason)
    for channel in series.channels:
        for severity in series.severities:
            LATENCY_FROM_RECEIPT.labels(channel, severity)
            LATENCY_FROM_SPOTTED.labels(channel, severity)
            for outcome in FINAL_OUTCOMES:
                DELIVERIES.labels(channel, severity, outcome)
        for attempt_outcome in series.attempt_outcomes:
            ATTEMPTS.labels(channel, attempt_outcome)
        for reason in RESCHEDULE_REASONS:
            RESCHEDULES.labels(channel, reason)
        CONTACT_POINTS_GONE.labels(channel)
        for state in RECEIPT_STATES:
            RECEIPTS.labels(channel, state)
        for severity in series.severities:
            SEEN_DELAY.labels(channel, severity)


def register_metrics(app: Flask, series: MetricSeries) -> None:
    """Time every request by endpoint and status, and create the metric series at zero."""
    _initialise_series(series)
    app.before_request(_start_timer)
    app.after_request(_observe_request)


def render_metrics(*collectors: Collector) -> tuple[bytes, str]:
    """The text exposition of every process's counters and of what `collectors` read now, with its type."""
    registry = CollectorRegistry()
    registry.register(process_registry(current_app.config["PROMETHEUS_MULTIPROC_DIR"]))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
