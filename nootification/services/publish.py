"""Publishing an alert: one delivery row per recipient, then one queued job per delivery."""

import logging

import sqlalchemy as sa
from redis.exceptions import RedisError

from nootification.extensions import db, redis_queue
from nootification.models import Alert, Delivery, DeliveryStatus, utcnow
from nootification.services.recipients import recipients_for

log = logging.getLogger(__name__)

PUSH_CHANNEL = "push"
# Named by path: the job module imports the services, so importing it here would be circular.
SEND_JOB = "nootification.jobs.send_notification"


def job_id_for(delivery_id: str) -> str:
    """The RQ job id of a delivery, so that one delivery maps to exactly one job."""
    return f"delivery-{delivery_id}"


def plan_deliveries(alert: Alert) -> list[Delivery]:
    """Add a pending delivery for each recipient of the alert to the session (not committed)."""
    deliveries = [Delivery(alert=alert, user=user, channel=PUSH_CHANNEL) for user in recipients_for(alert)]
    db.session.add_all(deliveries)
    return deliveries


def enqueue_deliveries(delivery_ids: list[str]) -> int:
    """Queue one job per delivery in a single Redis pipeline and mark them queued; return how many.

    Deliveries are committed before this runs, so when Redis is unreachable they stay pending and
    nothing accepted is lost.
    """
    if not delivery_ids:
        return 0
    queue = redis_queue.queue
    job_data = [
        queue.prepare_data(SEND_JOB, args=(delivery_id,), job_id=job_id_for(delivery_id))
        for delivery_id in delivery_ids
    ]
    try:
        with queue.connection.pipeline() as pipeline:
            queue.enqueue_many(job_data, pipeline=pipeline)
            pipeline.execute()
    except RedisError as error:
        log.warning("could not queue %d deliveries, they stay pending: %s", len(delivery_ids), error)
        return 0
    db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.QUEUED, queued_at=utcnow())
    )
    db.session.commit()
    return len(delivery_ids)


def publish(alert: Alert) -> list[Delivery]:
    """Create the alert's deliveries in the alert's transaction, commit, then queue their jobs."""
    deliveries = plan_deliveries(alert)
    db.session.commit()
    enqueue_deliveries([delivery.id for delivery in deliveries])
    return deliveries
