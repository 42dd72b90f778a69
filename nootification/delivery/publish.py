"""Publishing an alert: one delivery row per recipient, committed with the alert, then one job each."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app

from nootification.delivery.outbox import QueuedJob, enqueue
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryStatus, Severity, deadline_for, new_id, utcnow
from nootification.services.recipients import Recipient, recipients_for

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


def delivery_rows(alert: Alert, recipients: Sequence[Recipient], now: datetime) -> list[dict]:
    """A queued delivery's row for each recipient, channel and device, not yet written nor tied to the alert's
    id."""
    deadline = deadline_for(alert.received_at, alert.severity, current_app.config)
    return [
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
        }
        for recipient in recipients
    ]


def plan_deliveries(alert: Alert) -> list[dict]:
    """The rows of the deliveries to the shop's own staff."""
    # Reading the recipients must not flush the alert: that would open the write transaction early and hold
    # SQLite's single write lock (which every worker's claim waits for) through the reads.
    with db.session.no_autoflush:
        recipients = recipients_for(alert)
    return delivery_rows(alert, recipients, utcnow())


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
    enqueue([QueuedJob(row["id"], row["enqueue_count"]) for row in rows])
    return len(rows)
