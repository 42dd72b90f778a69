"""Publishing an alert: one delivery row per recipient, committed with the alert, then one job each; a later
alert of a burst, or one past a person's cap, waits for its group's summary instead."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import current_app

from nootification.delivery.calm import Audience, audience_of
from nootification.delivery.grouping import (
    OpenGroup,
    burst_closes_at,
    closed_group,
    group_window,
    open_burst,
    start_group,
)
from nootification.delivery.ladder import follows_ladder, ladder_channels, place_on_ladder
from nootification.delivery.outbox import QueuedJob, enqueue
from nootification.delivery.person_cap import capped_people
from nootification.delivery.summaries import add_summaries, summary_recipients, summary_rows
from nootification.extensions import db
from nootification.models import (
    Alert,
    Delivery,
    DeliveryStatus,
    GroupReason,
    Severity,
    deadline_for,
    new_id,
    utcnow,
)
from nootification.observability import metrics
from nootification.services.recipients import Recipient, Staff, recipients_among

ALERTS = Alert.__table__
DELIVERIES = Delivery.__table__
# Hot paths' statements, built once (see delivery/lease.py): every alert runs them.
INSERT_ALERT = ALERTS.insert().returning(ALERTS.c.id)
INSERT_DELIVERIES = DELIVERIES.insert()


def first_escalation_at(received_at: datetime, severity: Severity, escalate_after: float) -> datetime | None:
    """When a new alert takes its first escalation step if nobody claims it: critical alerts only, and
    never where the shop's `escalate_after` is 0."""
    if severity is not Severity.CRITICAL or escalate_after <= 0:
        return None
    return received_at + timedelta(seconds=escalate_after)


def ladder_of(alert: Alert) -> list[dict] | None:
    """The ladder the alert climbs: its shop's, for a critical alert; None for the others."""
    ladder = alert.location.ladder
    return ladder if follows_ladder(alert.severity, ladder) else None


def recipients_on(alert: Alert, staff: list[Staff]) -> list[Recipient]:
    """Each (user, channel, device) of these people the alert goes to: on its ladder's channels if it climbs
    one, else on the routed ones."""
    ladder = ladder_of(alert)
    return recipients_among(alert, staff, ladder_channels(ladder) if ladder else None)


def delivery_rows(
    alert: Alert, recipients: Sequence[Recipient], now: datetime, ladder_start: datetime
) -> list[dict]:
    """A delivery's row for each recipient, channel and device, not yet written nor tied to the alert's id:
    queued, or for a later step of the alert's ladder, scheduled from `ladder_start` (the alert's receipt for
    its shop's staff)."""
    deadline = deadline_for(alert.received_at, alert.severity, current_app.config)
    rows = [
        {
            "id": new_id(),
            "user_id": recipient.user_id,
            "channel": recipient.channel,
            "contact_point_id": recipient.contact_point_id,
            "status": DeliveryStatus.QUEUED,
            "attempts": 0,
            "retry_round": 0,
            "enqueue_count": 1,
            "created_at": now,
            "queued_at": now,
            "updated_at": now,
            "deadline_at": deadline,
            "next_attempt_at": None,
            "ladder_step": 0,
        }
        for recipient in recipients
    ]
    ladder = ladder_of(alert)
    if ladder:
        place_on_ladder(rows, [recipient.channel for recipient in recipients], ladder, ladder_start)
    return rows


@dataclass(frozen=True)
class Plan:
    """What publishing an alert does: whom it rings now, who waits for a summary (why), which open group it
    joins or which group it starts (`starts`: a burst's or a closed shop's); whether it may escalate."""

    ringing: list[Recipient]
    held: list[Recipient]
    held_reason: str
    quiet_reason: str | None
    joins: OpenGroup | None = None
    starts: GroupReason | None = None
    closes_at: datetime | None = None
    silence_id: str | None = None
    escalates: bool = True


def publish(alert: Alert) -> int:
    """Commit a new alert with its deliveries (and its group's summaries) in one transaction, then queue their
    jobs; how many deliveries ring.

    The alert stays out of the session: its row and its deliveries' rows are plain inserts (an alert may go
    to a thousand staff). An alert_uuid already stored raises IntegrityError, with nothing written. Calm
    (delivery/calm.py) says whom it concerns: a silenced alert rings nobody; a closed shop's standard alert
    waits for its opening's summary. Where the shop groups alerts, a later alert of a burst rings nobody: its
    people get the group's summary at the window's end, as do the people past their cap.
    """
    plan = plan_alert(alert)
    rows = write_alert(alert, plan)
    db.session.commit()
    enqueue(queued_now(rows))
    record_plan(plan)
    return len(rows)


def plan_alert(alert: Alert, *, stale: bool = False) -> Plan:
    """Whom a new alert rings, who waits for a summary and which group it joins or starts, read in the current
    transaction (so a later alert of a batch sees the groups and deliveries its earlier ones wrote); a stale
    alert rings nobody."""
    if stale:
        return Plan([], [], "stale", "stale", escalates=False)
    # Reading must not flush the alert: that would open the write transaction early and hold SQLite's single
    # write lock (which every worker's claim waits for) through the reads.
    with db.session.no_autoflush:
        audience = audience_of(alert)
        recipients = recipients_on(alert, audience.staff)
        plan = _plan(alert, audience, recipients)
    return replace(plan, silence_id=audience.silence_id, escalates=audience.silence_id is None)


def write_alert(alert: Alert, plan: Plan) -> list[dict]:
    """Insert a new alert's row, its group, its summaries and its deliveries as planned, without committing;
    the deliveries' rows (sets `alert.id`). An alert_uuid already stored raises IntegrityError."""
    rows = delivery_rows(alert, plan.ringing, utcnow(), ladder_start=alert.received_at)
    alert.id = _insert_alert(alert, plan)
    group = plan.joins or _started_group(alert, plan)
    if group is not None and plan.held:
        _add_summaries(alert, group, plan.held)
    if rows:
        db.session.execute(INSERT_DELIVERIES, [{**row, "alert_id": alert.id} for row in rows])
    return rows


def record_plan(plan: Plan) -> None:
    """Count what a committed alert's plan did: quieted, a group opened, messages held."""
    if plan.quiet_reason:
        metrics.record_quieted(plan.quiet_reason)
    if plan.starts is not None:
        metrics.record_group_opened(plan.starts.value)
    metrics.record_held(plan.held_reason, len(plan.held))


def _plan(alert: Alert, audience: Audience, recipients: list[Recipient]) -> Plan:
    shop, config = alert.location, current_app.config
    if audience.silence_id is not None:
        return Plan([], [], "silenced", "silenced")
    if audience.uncovered and not recipients:
        return Plan([], [], "uncovered", "uncovered")
    if audience.closed:
        # Closed for longer than opening hours look ahead: kept and shown, told to nobody.
        if audience.held_until is None:
            return Plan([], [], "closed", "closed")
        joins = closed_group(shop.id, audience.held_until)
        starts = None if joins else GroupReason.CLOSED
        return Plan([], recipients, "closed", "closed", joins, starts, audience.held_until)
    window = group_window(shop, config)
    if not window:
        return Plan(recipients, [], "capped", None)
    burst = open_burst(shop.id, alert.label, alert.received_at)
    if burst is not None:
        return Plan([], recipients, "grouped", "grouped", joins=burst)
    people = {recipient.user_id for recipient in recipients}
    capped = capped_people(shop.id, people, alert.received_at, config["MAX_MESSAGES_PER_PERSON"])
    ringing = [recipient for recipient in recipients if recipient.user_id not in capped]
    held = [recipient for recipient in recipients if recipient.user_id in capped]
    closes_at = burst_closes_at(alert.received_at, window)
    return Plan(ringing, held, "capped", None, starts=GroupReason.BURST, closes_at=closes_at)


def _started_group(alert: Alert, plan: Plan) -> OpenGroup | None:
    if plan.starts is None:
        return None
    return start_group(
        alert.id,
        location_id=alert.location.id,
        reason=plan.starts,
        label=alert.label if plan.starts is GroupReason.BURST else None,
        now=alert.received_at,
        closes_at=plan.closes_at,
    )


def _insert_alert(alert: Alert, plan: Plan) -> int:
    """Insert the alert's row; its id. A later alert of a group does not escalate (its group's first does),
    nor does a silenced or a stale one."""
    escalates_at = None
    if plan.joins is None and plan.escalates:
        escalates_at = first_escalation_at(alert.received_at, alert.severity, alert.location.escalate_after)
    return db.session.execute(
        INSERT_ALERT,
        {
            "alert_uuid": alert.alert_uuid,
            "url": alert.url,
            "location_id": alert.location.id,
            "label": alert.label,
            "severity": alert.severity,
            "time_spotted": alert.time_spotted,
            "received_at": alert.received_at,
            "next_escalation_at": escalates_at,
            "group_id": plan.joins.id if plan.joins else None,
            "silence_id": plan.silence_id,
        },
    ).scalar_one()


def _add_summaries(alert: Alert, group: OpenGroup, held: Sequence[Recipient]) -> None:
    deadline = deadline_for(group.closes_at, alert.severity, current_app.config)
    rows = summary_rows(
        summary_recipients(held, ladder_of(alert)), now=utcnow(), due=group.closes_at, deadline=deadline
    )
    add_summaries(rows, group.first_alert_id)


def queued_now(rows: Sequence[dict]) -> list[QueuedJob]:
    """The jobs of the rows queued at once (a later step of a ladder waits for its time)."""
    queued = (row for row in rows if row["status"] is DeliveryStatus.QUEUED)
    return [QueuedJob(row["id"], row["enqueue_count"]) for row in queued]
