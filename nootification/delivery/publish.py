"""Publishing an alert: one delivery row per recipient, committed with the alert, then one job each; a later
alert of a burst, or one past a person's cap, waits for its group's summary instead."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app

from nootification.delivery.grouping import OpenGroup, burst_closes_at, group_window, open_burst, start_group
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
from nootification.services.recipients import Recipient, Staff, recipients_among, staff_of

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


def publish(alert: Alert) -> int:
    """Commit a new alert with its deliveries (and its group's summaries) in one transaction, then queue their
    jobs; how many deliveries ring.

    The alert stays out of the session: its row and its deliveries' rows are plain inserts (an alert may go
    to a thousand staff). An alert_uuid already stored raises IntegrityError, with nothing written. Where the
    shop groups alerts, a later alert of a burst rings nobody: its people get the group's summary at the
    window's end, as do the people past their cap (see delivery/grouping.py, delivery/person_cap.py).
    """
    shop, config = alert.location, current_app.config
    window = group_window(shop, config)
    # Reading must not flush the alert: that would open the write transaction early and hold SQLite's single
    # write lock (which every worker's claim waits for) through the reads.
    with db.session.no_autoflush:
        recipients = recipients_on(alert, staff_of(shop.id))
        burst = open_burst(shop.id, alert.label, alert.received_at) if window else None
        capped = set() if burst or not window else _capped(alert, recipients, config)
    ringing = [] if burst else [recipient for recipient in recipients if recipient.user_id not in capped]
    held = recipients if burst else [recipient for recipient in recipients if recipient.user_id in capped]
    rows = delivery_rows(alert, ringing, utcnow(), ladder_start=alert.received_at)
    alert.id = _insert_alert(alert, group_id=burst.id if burst else None)
    group = burst
    if window and burst is None:
        group = start_group(
            alert.id,
            location_id=shop.id,
            reason=GroupReason.BURST,
            label=alert.label,
            now=alert.received_at,
            closes_at=burst_closes_at(alert.received_at, window),
        )
    if group is not None and held:
        _add_summaries(alert, group, held)
    if rows:
        db.session.execute(INSERT_DELIVERIES, [{**row, "alert_id": alert.id} for row in rows])
    db.session.commit()
    enqueue(queued_now(rows))
    if burst:
        metrics.record_quieted("grouped")
    metrics.record_held("grouped" if burst else "capped", len(held))
    return len(rows)


def _capped(alert: Alert, recipients: Sequence[Recipient], config) -> set[int]:
    people = {recipient.user_id for recipient in recipients}
    return capped_people(alert.location.id, people, alert.received_at, config["MAX_MESSAGES_PER_PERSON"])


def _insert_alert(alert: Alert, *, group_id: int | None) -> int:
    """Insert the alert's row; its id. A later alert of a group does not escalate: its group's first does."""
    escalates_at = None
    if group_id is None:
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
            "group_id": group_id,
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
