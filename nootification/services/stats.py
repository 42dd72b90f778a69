"""What happened over a window: alerts received, their deliveries by status and channel, how fast, whether
phones reported them arrived and opened, and how staff answered them (claims, time to claim, unclaimed
critical alerts, outcomes).

The window selects alerts by their receipt; every delivery count and latency is about those alerts'
deliveries, whatever their status now. Percentiles are computed here, in Python, from the sent deliveries'
timestamps: SQLite has no percentile function and the two databases subtract timestamps differently.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nootification.extensions import db
from nootification.models import (
    Alert,
    AlertGroup,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    GroupReason,
    Location,
    Outcome,
    Severity,
    utcnow,
)
from nootification.services.directory import get_location

PERCENTILES = (50, 95, 99)


@dataclass
class StatusCounts:
    """Deliveries counted by status (every status present, 0 when none)."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: {status.value: 0 for status in DeliveryStatus})

    def add(self, status: DeliveryStatus, count: int) -> None:
        """Count `count` more deliveries in `status`."""
        self.total += count
        self.by_status[status.value] += count


@dataclass
class DeliveryCounts(StatusCounts):
    """Deliveries counted by status, and by status within each channel that had any."""

    by_channel: dict[str, StatusCounts] = field(default_factory=dict)

    def add_channel(self, channel: str, status: DeliveryStatus, count: int) -> None:
        """Count `count` more deliveries of `channel` in `status`."""
        self.add(status, count)
        self.by_channel.setdefault(channel, StatusCounts()).add(status, count)


QUIET_REASONS = ("grouped", "closed", "silenced")


@dataclass
class AlertCounts:
    """Alerts counted by label and by severity; the groups they formed, and those that rang nobody when they
    came, by why (a burst's later alert, a closed shop's, a silenced one)."""

    total: int = 0
    by_label: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=lambda: {severity.value: 0 for severity in Severity})
    groups: int = 0
    quiet: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUIET_REASONS, 0))

    @classmethod
    def of_labels(cls, labels: Iterable[str]) -> "AlertCounts":
        """No alerts yet, with every given label present at 0."""
        return cls(by_label=dict.fromkeys(labels, 0))

    def add(self, label: str, severity: Severity, count: int) -> None:
        """Count `count` more alerts of this label and severity."""
        self.total += count
        self.by_label[label] = self.by_label.get(label, 0) + count
        self.by_severity[severity.value] += count

    def add_calm(self, groups: int, quiet: dict[str, int]) -> None:
        """Count `groups` more groups, and more alerts that rang nobody, by why."""
        self.groups += groups
        for reason, count in quiet.items():
            self.quiet[reason] += count


@dataclass(frozen=True)
class Percentiles:
    """How many values, and their 50th, 95th and 99th percentiles in seconds (None without values)."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class Response:
    """How staff answered alerts: how many were claimed, how fast, which critical ones nobody claimed, and
    what they found (the false-alarm rate is over the alerts with a recorded outcome; None without one)."""

    alerts: int
    claimed: int
    unclaimed_critical: int
    time_to_claim: Percentiles
    outcomes: dict[str, int]
    false_alarm_rate: float | None


@dataclass(frozen=True)
class Answered:
    """One alert as the response figures need it."""

    severity: Severity
    received_at: datetime
    claimed_at: datetime | None
    outcome: Outcome | None


@dataclass
class LocationStats:
    """One shop's alerts and deliveries in the window, and its staff's response by label."""

    alerts: AlertCounts
    deliveries: DeliveryCounts = field(default_factory=DeliveryCounts)
    response_by_label: dict[str, Response] = field(default_factory=dict)


@dataclass(frozen=True)
class Latency:
    """Sent deliveries' latency from the alert's receipt and from its time_spotted (the camera's clock)."""

    from_receipt: Percentiles
    from_spotted: Percentiles


@dataclass(frozen=True)
class LatencyStats(Latency):
    """Latency over every sent delivery, and per channel."""

    by_channel: dict[str, Latency]


@dataclass(frozen=True)
class Engagement:
    """What phones reported of the sent deliveries: how many arrived and were opened, as shares of those
    sent (None without any sent), and the time from the alert's receipt to its notification being opened.
    Only phones report (Web Push, FCM, an app on the push provider); other channels stay at 0."""

    sent: int
    delivered: int
    seen: int
    delivered_rate: float | None
    seen_rate: float | None
    alert_to_seen: Percentiles


@dataclass(frozen=True)
class EngagementStats(Engagement):
    """Engagement over every sent delivery, and per channel."""

    by_channel: dict[str, Engagement]


@dataclass(frozen=True)
class Stats:
    """Everything `GET /stats` reports for one window (and optionally one shop)."""

    window: int
    since: datetime
    until: datetime
    location: str | None
    alerts: AlertCounts
    deliveries: DeliveryCounts
    locations: dict[str, LocationStats]
    latency: LatencyStats
    response: Response
    response_by_label: dict[str, Response]
    engagement: EngagementStats


def percentile(ordered: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile of values sorted in ascending order; None when there are none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def percentiles(values: Iterable[float]) -> Percentiles:
    """The count and p50, p95 and p99 of the values."""
    ordered = sorted(values)
    p50, p95, p99 = (percentile(ordered, pct) for pct in PERCENTILES)
    return Percentiles(count=len(ordered), p50=p50, p95=p95, p99=p99)


def _seconds(start: datetime, end: datetime) -> float:
    # A camera clock ahead of ours would make the latency negative; it is at least zero.
    return max(0.0, (end - start).total_seconds())


def _latency(samples: list[tuple[float, float]]) -> Latency:
    return Latency(
        from_receipt=percentiles(receipt for receipt, _ in samples),
        from_spotted=percentiles(spotted for _, spotted in samples),
    )


def engagement(reports: Sequence[tuple[datetime | None, datetime | None, datetime]]) -> Engagement:
    """The engagement of sent deliveries, each given as (delivered_at, seen_at, its alert's received_at)."""
    sent = len(reports)
    delivered = sum(delivered_at is not None for delivered_at, _, _ in reports)
    seen = sum(seen_at is not None for _, seen_at, _ in reports)
    return Engagement(
        sent=sent,
        delivered=delivered,
        seen=seen,
        delivered_rate=delivered / sent if sent else None,
        seen_rate=seen / sent if sent else None,
        alert_to_seen=percentiles(
            _seconds(received_at, seen_at) for _, seen_at, received_at in reports if seen_at is not None
        ),
    )


def _engagement(in_window: list) -> EngagementStats:
    by_channel: dict[str, list[tuple[datetime | None, datetime | None, datetime]]] = {}
    for channel, delivered_at, seen_at, received_at in db.session.execute(
        sa.select(Delivery.channel, Delivery.delivered_at, Delivery.seen_at, Alert.received_at)
        .join(Delivery.alert)
        .where(*in_window, Delivery.kind == DeliveryKind.ALERT, Delivery.status == DeliveryStatus.SENT)
    ):
        by_channel.setdefault(channel, []).append((delivered_at, seen_at, received_at))
    overall = engagement([report for reports in by_channel.values() for report in reports])
    return EngagementStats(
        **vars(overall),
        by_channel={channel: engagement(reports) for channel, reports in sorted(by_channel.items())},
    )


def response(alerts: Sequence[Answered]) -> Response:
    """The response figures of these alerts."""
    outcomes = {outcome.value: 0 for outcome in Outcome}
    for alert in alerts:
        if alert.outcome is not None:
            outcomes[alert.outcome.value] += 1
    recorded = sum(outcomes.values())
    return Response(
        alerts=len(alerts),
        claimed=sum(alert.claimed_at is not None for alert in alerts),
        unclaimed_critical=sum(
            alert.claimed_at is None and alert.severity is Severity.CRITICAL for alert in alerts
        ),
        time_to_claim=percentiles(
            _seconds(alert.received_at, alert.claimed_at) for alert in alerts if alert.claimed_at is not None
        ),
        outcomes=outcomes,
        false_alarm_rate=outcomes[Outcome.FALSE_ALARM.value] / recorded if recorded else None,
    )


def _by_label(alerts: Iterable[tuple[str, Answered]]) -> dict[str, Response]:
    grouped: dict[str, list[Answered]] = {}
    for label, alert in alerts:
        grouped.setdefault(label, []).append(alert)
    return {label: response(answered) for label, answered in sorted(grouped.items())}


def _calm_counts(in_window: list) -> list[tuple[str, int, dict[str, int]]]:
    """Per shop: the groups its alerts in the window formed, and those alerts that rang nobody, by why."""
    groups = AlertGroup.__table__
    later_of_burst = sa.and_(groups.c.reason == GroupReason.BURST, groups.c.first_alert_id != Alert.id)
    rows = db.session.execute(
        sa.select(
            Location.name,
            sa.func.count(sa.distinct(Alert.group_id)),
            sa.func.sum(sa.case((later_of_burst, 1), else_=0)),
            sa.func.sum(sa.case((groups.c.reason == GroupReason.CLOSED, 1), else_=0)),
            sa.func.sum(sa.case((Alert.silence_id.is_not(None), 1), else_=0)),
        )
        .join(Alert.location)
        .outerjoin(groups, groups.c.id == Alert.group_id)
        .where(*in_window)
        .group_by(Location.name)
    )
    return [
        (name, group_count, dict(zip(QUIET_REASONS, (int(n or 0) for n in quiet), strict=True)))
        for name, group_count, *quiet in rows
    ]


def collect_stats(*, window: int, location: str | None = None) -> Stats:
    """Alert and delivery counts, per shop too, and latency percentiles for alerts received in the window."""
    until = utcnow()
    since = until - timedelta(seconds=window)
    in_window = [Alert.received_at >= since, Alert.received_at < until]
    if location is not None:
        in_window.append(Alert.location_id == get_location(location).id)
    labels = current_app.config["ALERT_LABELS"]

    alerts = AlertCounts.of_labels(labels)
    locations: dict[str, LocationStats] = {}

    def of_location(name: str) -> LocationStats:
        return locations.setdefault(name, LocationStats(AlertCounts.of_labels(labels)))

    for name, label, severity, count in db.session.execute(
        sa.select(Location.name, Alert.label, Alert.severity, sa.func.count())
        .join(Alert.location)
        .where(*in_window)
        .group_by(Location.name, Alert.label, Alert.severity)
    ):
        alerts.add(label, severity, count)
        of_location(name).alerts.add(label, severity, count)

    for name, groups, quiet in _calm_counts(in_window):
        alerts.add_calm(groups, quiet)
        of_location(name).alerts.add_calm(groups, quiet)

    deliveries = DeliveryCounts()
    for name, channel, status, count in db.session.execute(
        sa.select(Location.name, Delivery.channel, Delivery.status, sa.func.count())
        .join(Delivery.alert)
        .join(Alert.location)
        .where(*in_window, Delivery.kind == DeliveryKind.ALERT)
        .group_by(Location.name, Delivery.channel, Delivery.status)
    ):
        deliveries.add_channel(channel, status, count)
        # An alert committed between the two queries may show up only here.
        of_location(name).deliveries.add_channel(channel, status, count)

    by_channel: dict[str, list[tuple[float, float]]] = {}
    for channel, received_at, time_spotted, sent_at in db.session.execute(
        sa.select(Delivery.channel, Alert.received_at, Alert.time_spotted, Delivery.sent_at)
        .join(Delivery.alert)
        .where(
            *in_window,
            Delivery.kind == DeliveryKind.ALERT,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at.is_not(None),
        )
    ):
        sample = (_seconds(received_at, sent_at), _seconds(time_spotted, sent_at))
        by_channel.setdefault(channel, []).append(sample)
    overall = _latency([sample for samples in by_channel.values() for sample in samples])
    latency = LatencyStats(
        from_receipt=overall.from_receipt,
        from_spotted=overall.from_spotted,
        by_channel={channel: _latency(samples) for channel, samples in sorted(by_channel.items())},
    )
    answered = [
        (name, label, Answered(severity, received_at, claimed_at, outcome))
        for name, label, severity, received_at, claimed_at, outcome in db.session.execute(
            sa.select(
                Location.name, Alert.label, Alert.severity, Alert.received_at, Alert.claimed_at, Alert.outcome
            )
            .join(Alert.location)
            .where(*in_window)
        )
    ]
    for name in {name for name, _, _ in answered}:
        of_location(name).response_by_label = _by_label(
            (label, alert) for shop, label, alert in answered if shop == name
        )
    return Stats(
        window=window,
        since=since,
        until=until,
        location=location,
        alerts=alerts,
        deliveries=deliveries,
        locations=dict(sorted(locations.items())),
        latency=latency,
        response=response([alert for _, _, alert in answered]),
        response_by_label=_by_label((label, alert) for _, label, alert in answered),
        engagement=_engagement(in_window),
    )
