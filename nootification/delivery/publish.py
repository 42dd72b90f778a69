"""Publishing an alert: one delivery row per recipient, committed with the alert, then one job each."""

from flask import current_app

from nootification.delivery.outbox import QueuedJob, enqueue
from nootification.delivery.retry import deadline_for
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryStatus, new_id, utcnow
from nootification.services.recipients import recipients_for

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
    """Commit the alert with its deliveries in one transaction, then queue their jobs; how many deliveries.

    The rows are written in one multi-row insert, without ORM objects: an alert may go to a thousand staff.
    """
    rows = plan_deliveries(alert)
    db.session.flush()  # the alert's id
    if rows:
        db.session.execute(DELIVERIES.insert(), [{**row, "alert_id": alert.id} for row in rows])
    db.session.commit()
    enqueue([QueuedJob(row["id"], row["enqueue_count"]) for row in rows])
    return len(rows)
