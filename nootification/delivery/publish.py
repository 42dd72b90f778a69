"""Publishing an alert: one delivery row per recipient, committed with the alert, then one job each."""

from flask import current_app

from nootification.delivery.outbox import QueuedJob, enqueue
from nootification.delivery.retry import deadline_for
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryStatus, new_id, utcnow
from nootification.services.recipients import recipients_for

ALERTS = Alert.__table__
DELIVERIES = Delivery.__table__


def plan_deliveries(alert: Alert) -> list[dict]:
    """A queued delivery's row for each recipient and channel of the alert, not yet written."""
    now = utcnow()
    deadline = deadline_for(alert.received_at, alert.severity, current_app.config)
    # Reading the recipients must not flush the alert: that would open the write transaction early and hold
    # SQLite's single write lock (which every worker's claim waits for) through the reads.
    with db.session.no_autoflush:
        recipients = recipients_for(alert)
    return [
        {
            "id": new_id(),
            "user_id": recipient.user_id,
            "channel": recipient.channel,
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


def publish(alert: Alert) -> int:
    """Commit a new alert with its deliveries in one transaction, then queue their jobs; how many deliveries.

    The alert stays out of the session: its row and its deliveries' rows are plain inserts (an alert may go to
    a thousand staff). An alert_uuid already stored raises IntegrityError, with nothing written.
    """
    rows = plan_deliveries(alert)
    alert.id = db.session.execute(
        ALERTS.insert()
        .values(
            alert_uuid=alert.alert_uuid,
            url=alert.url,
            location_id=alert.location.id,
            label=alert.label,
            severity=alert.severity,
            time_spotted=alert.time_spotted,
            received_at=alert.received_at,
        )
        .returning(ALERTS.c.id)
    ).scalar_one()
    if rows:
        db.session.execute(DELIVERIES.insert(), [{**row, "alert_id": alert.id} for row in rows])
    db.session.commit()
    enqueue([QueuedJob(row["id"], row["enqueue_count"]) for row in rows])
    return len(rows)
