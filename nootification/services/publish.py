"""Publishing an alert: one delivery row per recipient, committed with the alert, then one job each."""

from flask import current_app

from nootification.extensions import db
from nootification.models import Alert, Delivery
from nootification.services.outbox import enqueue, mark_queued
from nootification.services.recipients import recipients_for
from nootification.services.retry import deadline_for


def plan_deliveries(alert: Alert) -> list[Delivery]:
    """Add a queued delivery for each recipient and channel of the alert to the session (not committed)."""
    deadline = deadline_for(alert.received_at, alert.severity, current_app.config)
    # Reading the recipients must not flush the alert: that would open the write transaction early and hold
    # SQLite's single write lock (which every worker's claim waits for) through the reads.
    with db.session.no_autoflush:
        recipients = recipients_for(alert)
    deliveries = [
        Delivery(
            alert=alert, user=recipient.user, channel=recipient.channel, deadline_at=deadline, enqueue_count=1
        )
        for recipient in recipients
    ]
    for delivery in deliveries:
        mark_queued(delivery)
    db.session.add_all(deliveries)
    return deliveries


def publish(alert: Alert) -> list[Delivery]:
    """Commit the alert with its deliveries, then queue their jobs; nothing is queued before the commit."""
    deliveries = plan_deliveries(alert)
    db.session.commit()
    enqueue(deliveries)
    return deliveries
