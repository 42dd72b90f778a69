"""What happened over a window: alerts received, their deliveries by status and channel, how fast, whether
phones reported them arrived and opened, and how staff answered them (claims, time to claim, unclaimed
critical alerts, outcomes).

The window selects alerts by their receipt; every delivery count and latency is about those alerts'
deliveries, whatever their status now. Every figure is an aggregate the database computes, percentiles too
(nootification.sql_functions): what is read back is a few rows per shop, label and channel, however many
alerts and deliveries the window holds.
"""

from collections.abc import Iterable
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
from nootification.sql_functions import NearestRank, SecondsBetween

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


def _percentile_columns(seconds: SecondsBetween) -> list[NearestRank]:
    """The p50, p95 and p99 of a number of seconds, as columns of an aggregate query."""
    return [NearestRank(seconds, pct) for pct in PERCENTILES]


def _percentiles(count: int, *values: float | None) -> Percentiles:
    """Percentiles read from an aggregate query's columns. A camera clock ahead of ours would make a
    latency negative: each is at least zero (the same as the percentile of latencies cut at zero)."""
    p50, p95, p99 = (None if value is None else max(0.0, float(value)) for value in values)
    return Percentiles(count=count, p50=p50, p95=p95, p99=p99)


def engagement(sent: int, delivered: int, seen: int, *alert_to_seen: float | None) -> Engagement:
    """The engagement of sent deliveries from their counts (sent, reported arrived, reported opened) and
    the p50, p95 and p99 of the time from their alert's receipt to their opening."""
    return Engagement(
        sent=sent,
        delivered=delivered,
        seen=seen,
        delivered_rate=delivered / sent if sent else None,
        seen_rate=seen / sent if sent else None,
        alert_to_seen=_percentiles(seen, *alert_to_seen),
    )


def _sent_deliveries(in_window: list, *group_by) -> sa.Result:
    """Over the window's sent alert deliveries, grouped (and ordered) by `group_by`: the columns
    `_sent_figures` takes."""
    return db.session.execute(
        sa.select(
            *group_by,
            sa.func.count(Delivery.sent_at),
            *_percentile_columns(SecondsBetween(Alert.received_at, Delivery.sent_at)),
            *_percentile_columns(SecondsBetween(Alert.time_spotted, Delivery.sent_at)),
            sa.func.count(),
            sa.func.count(Delivery.delivered_at),
            sa.func.count(Delivery.seen_at),
            *_percentile_columns(SecondsBetween(Alert.received_at, Delivery.seen_at)),
        )
        .join(Delivery.alert)
        .where(*in_window, Delivery.kind == DeliveryKind.ALERT, Delivery.status == DeliveryStatus.SENT)
        .group_by(*group_by)
        .order_by(*group_by)
    )


def _sent_figures(timed: int, *columns: float | int | None) -> tuple[Latency, Engagement]:
    """The latency and the engagement of sent deliveries, from a row of `_sent_deliveries`."""
    from_receipt, from_spotted, engaged = columns[:3], columns[3:6], columns[6:]
    latency = Latency(
        from_receipt=_percentiles(timed, *from_receipt), from_spotted=_percentiles(timed, *from_spotted)
    )
    return latency, engagement(*engaged)


def _latency_and_engagement(in_window: list) -> tuple[LatencyStats, EngagementStats]:
    """Sent deliveries' latency and engagement, over all and per channel."""
    (overall,) = _sent_deliveries(in_window)
    latency, engaged = _sent_figures(*overall)
    # Sorted here, not by the database, whose collation may order names otherwise than Python does.
    by_channel = dict(
        sorted(
            (channel, _sent_figures(*row)) for channel, *row in _sent_deliveries(in_window, Delivery.channel)
        )
    )
    return (
        LatencyStats(
            **vars(latency),
            by_channel={
                channel: figures[0]
                for channel, figures in by_channel.items()
                if figures[0].from_receipt.count
            },
        ),
        EngagementStats(
            **vars(engaged), by_channel={channel: figures[1] for channel, figures in by_channel.items()}
        ),
    )


def response(
    alerts: int, claimed: int, unclaimed_critical: int | None, *figures: float | int | None
) -> Response:
    """The response figures of alerts from their counts (all, claimed, critical ones unclaimed), then the
    p50, p95 and p99 of their time to claim, then how many of them had each outcome, in `Outcome`'s order
    (an empty group's sums are None)."""
    time_to_claim, outcome_counts = figures[:3], figures[3:]
    outcomes = {
        outcome.value: int(count or 0) for outcome, count in zip(Outcome, outcome_counts, strict=True)
    }
    recorded = sum(outcomes.values())
    return Response(
        alerts=alerts,
        claimed=claimed,
        unclaimed_critical=int(unclaimed_critical or 0),
        time_to_claim=_percentiles(claimed, *time_to_claim),
        outcomes=outcomes,
        false_alarm_rate=outcomes[Outcome.FALSE_ALARM.value] / recorded if recorded else None,
    )


def _responses(in_window: list, *group_by) -> sa.Result:
    """The columns `response` takes, over the window's alerts, grouped (and ordered) by `group_by`."""
    unclaimed_critical = sa.and_(Alert.claimed_at.is_(None), Alert.severity == Severity.CRITICAL)
    return db.session.execute(
        sa.select(
            *group_by,
            sa.func.count(),
            sa.func.count(Alert.claimed_at),
            sa.func.sum(sa.case((unclaimed_critical, 1), else_=0)),
            *_percentile_columns(SecondsBetween(Alert.received_at, Alert.claimed_at)),
            *(sa.func.sum(sa.case((Alert.outcome == outcome, 1), else_=0)) for outcome in Outcome),
        )
        .join(Alert.location)
        .where(*in_window)
        .group_by(*group_by)
        .order_by(*group_by)
    )


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

    for name, label, *row in sorted(_responses(in_window, Location.name, Alert.label), key=lambda r: r[:2]):
        of_location(name).response_by_label[label] = response(*row)
    (overall,) = _responses(in_window)
    latency, engaged = _latency_and_engagement(in_window)
    return Stats(
        window=window,
        since=since,
        until=until,
        location=location,
        alerts=alerts,
        deliveries=deliveries,
        locations=dict(sorted(locations.items())),
        latency=latency,
        response=response(*overall),
        response_by_label=dict(
            sorted((label, response(*row)) for label, *row in _responses(in_window, Alert.label))
        ),
        engagement=engaged,
    )
