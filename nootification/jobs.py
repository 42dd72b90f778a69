"""RQ job functions; they take primitive ids and run inside the worker's application context."""

from nootification.extensions import db
from nootification.logs import log_context
from nootification.models import DeliveryStatus
from nootification.services.delivery import deliver
from nootification.services.outbox import sweep


def send_notification(delivery_id: str) -> str | None:
    """Deliver one message; the session is released after every job so the next starts clean."""
    try:
        with log_context(delivery_id=delivery_id):
            status: DeliveryStatus | None = deliver(delivery_id)
        return None if status is None else status.value
    finally:
        db.session.remove()


def sweep_deliveries() -> dict:
    """The periodic sweep: queue what has no job, take back abandoned deliveries, expire stale ones."""
    try:
        report = sweep()
        return {"queued": report.queued, "reclaimed": report.reclaimed, "expired": report.expired}
    finally:
        db.session.remove()
