"""Publishing an alert: one delivery row per recipient, committed with the alert, then one job each."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app

from nootification.delivery.ladder import follows_ladder, ladder_channels, place_on_ladder
from nootification.delivery.outbox import QueuedJob, enqueue
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryStatus, Severity, deadline_for, new_id, utcnow
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


def plan_deliveries(alert: Alert) -> list[dict]:
    """The rows of the deliveries to the shop's own staff."""
    # Reading the recipients must not flush the alert: that would open the write transaction early and hold
    # SQLite's single write lock (which every worker's claim waits for) through the reads.
    with db.session.no_autoflush:
        recipients = recipients_on(alert, staff_of(alert.location.id))
    return delivery_rows(alert, recipients, utcnow(), ladder_start=alert.received_at)


def publish(alert: Alert) -> int:
    """Commit a new alert with its deliveries in one transaction, then queue their jobs; how many deliveries.

    The alert stays out of the session: its row and its deliveries' rows are plain inserts (an alert may go to
    a thousand staff). An alert_uuid already stored raises IntegrityError, with nothing written.
    """
    rows = plan_deliveries(alert)
    alert.id = db.session.execute(
        INSERT_ALERT,
        {
            "alert_uuid": alert.alert_uuid,
            "url": alert.url,
            "location_id": alert.location.id,
            "label": alert.label,
            "severity": alert.severity,
            "time_spotted": alert.time_spotted,
            "received_at": alert.received_at,
            "next_escalation_at": first_escalation_at(
                alert.received_at, alert.severity, alert.location.escalate_after
            ),
        },
    ).scalar_one()
    if rows:
        db.session.execute(INSERT_DELIVERIES, [{**row, "alert_id": alert.id} for row in rows])
    db.session.commit()
    enqueue(queued_now(rows))
    return len(rows)


def queued_now(rows: Sequence[dict]) -> list[QueuedJob]:
    """The jobs of the rows queued at once (a later step of a ladder waits for its time)."""
    queued = (row for row in rows if row["status"] is DeliveryStatus.QUEUED)
    return [QueuedJob(row["id"], row["enqueue_count"]) for row in queued]
