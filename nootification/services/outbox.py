"""The outbox: deliveries are rows first, jobs second, and a sweeper makes sure every row gets its job."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from nootification import metrics
from nootification.extensions import db, redis_queue
from nootification.models import FINAL_STATUSES, Delivery, DeliveryStatus, utcnow

log = logging.getLogger(__name__)

# Named by path: the job module imports the services, so importing it here would be circular.
SEND_JOB = "nootification.jobs.send_notification"
SWEEP_JOB = "nootification.jobs.sweep_deliveries"
SWEEPER_ID = "nootification-sweeper"
SWEEP_BATCH = 1000


def job_id_for(delivery_id: str, generation: int) -> str:
    """The RQ job id of one enqueue of a delivery: derived from the delivery id and its enqueue count."""
    return f"delivery-{delivery_id}-{generation}"


def mark_queued(delivery: Delivery) -> None:
    """Set a delivery queued (not committed): committed so before the push, it needs no write after it."""
    delivery.status = DeliveryStatus.QUEUED
    delivery.queued_at = utcnow()
    delivery.next_attempt_at = None


def enqueue(deliveries: Sequence[Delivery]) -> int:
    """Push one job per delivery in a single Redis pipeline; return how many.

    Each delivery must already be committed as queued (`mark_queued`) with its `enqueue_count`, which names
    the job. When Redis is unreachable they go back to pending and the sweeper queues them later; should the
    process die before the push, the sweeper finds them as queued deliveries without a job.
    """
    if not deliveries:
        return 0
    queue = redis_queue.queue
    jobs = [
        queue.prepare_data(
            SEND_JOB,
            args=(delivery.id,),
            job_id=job_id_for(delivery.id, delivery.enqueue_count),
            result_ttl=0,  # the outcome lives in the database; keeping it in Redis too costs writes
        )
        for delivery in deliveries
    ]
    try:
        with queue.connection.pipeline() as pipeline:
            queue.enqueue_many(jobs, pipeline=pipeline)
            pipeline.execute()
    except RedisError as error:
        log.warning("could not queue %d deliveries, the sweeper will: %s", len(deliveries), error)
        _back_to_pending(deliveries)
        return 0
    return len(deliveries)


def _back_to_pending(deliveries: Sequence[Delivery]) -> None:
    for delivery in deliveries:
        delivery.status = DeliveryStatus.PENDING
        delivery.queued_at = None
    try:
        db.session.commit()
    except SQLAlchemyError as error:
        # Left queued without a job, they are found by the sweeper's lost-job check all the same.
        db.session.rollback()
        log.warning("could not mark %d deliveries pending: %s", len(deliveries), error)


def requeue(deliveries: Sequence[Delivery]) -> int:
    """Give each delivery a new job generation, commit it queued, and push its job."""
    for delivery in deliveries:
        mark_queued(delivery)
        delivery.enqueue_count += 1
    db.session.commit()
    return enqueue(deliveries)


def schedule(delivery: Delivery, *, at: datetime, reason: str) -> None:
    """Put a delivery aside until `at`; rq-scheduler queues it then (the sweeper does if that job is lost)."""
    delivery.status = DeliveryStatus.SCHEDULED
    delivery.next_attempt_at = at
    delivery.lease_expires_at = None
    delivery.last_error = reason
    delivery.enqueue_count += 1
    db.session.commit()
    job_id = job_id_for(delivery.id, delivery.enqueue_count)
    try:
        redis_queue.scheduler.enqueue_at(at, SEND_JOB, delivery.id, job_id=job_id, job_result_ttl=0)
    except RedisError as error:
        log.warning("could not schedule delivery %s, the sweeper will: %s", delivery.id, error)


def expire(delivery: Delivery, reason: str) -> None:
    """Give up on a delivery whose alert is no longer fresh."""
    delivery.status = DeliveryStatus.EXPIRED
    delivery.lease_expires_at = None
    delivery.next_attempt_at = None
    delivery.last_error = reason
    db.session.commit()
    metrics.record_delivery_final(delivery)
    log.error("delivery %s expired: %s", delivery.id, reason)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    queued: int
    reclaimed: int
    expired: int


def _missing_jobs(deliveries: Sequence[Delivery]) -> list[Delivery]:
    with redis_queue.connection.pipeline(transaction=False) as pipeline:
        for delivery in deliveries:
            pipeline.exists(f"rq:job:{job_id_for(delivery.id, delivery.enqueue_count)}")
        present = pipeline.execute()
    return [delivery for delivery, exists in zip(deliveries, present, strict=True) if not exists]


def _select(*conditions) -> list[Delivery]:
    return list(db.session.scalars(sa.select(Delivery).where(*conditions).limit(SWEEP_BATCH)))


def sweep(now: datetime | None = None) -> SweepReport:
    """Queue deliveries that never got a job or lost theirs, take back expired leases, expire stale ones."""
    now = now or utcnow()
    grace = now - timedelta(seconds=current_app.config["PENDING_GRACE"])

    stale = _select(
        Delivery.deadline_at < now,
        Delivery.status.not_in(FINAL_STATUSES),
        sa.or_(Delivery.status != DeliveryStatus.SENDING, Delivery.lease_expires_at < now),
    )
    for delivery in stale:
        expire(delivery, "the alert went stale before the delivery could be made")

    unqueued = _select(Delivery.status == DeliveryStatus.PENDING, Delivery.created_at < grace)
    lost = _missing_jobs(
        _select(Delivery.status == DeliveryStatus.QUEUED, Delivery.queued_at < grace)
        + _select(Delivery.status == DeliveryStatus.SCHEDULED, Delivery.next_attempt_at < grace)
    )
    abandoned = _select(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now)
    for delivery in abandoned:
        log.warning("delivery %s: its worker's lease expired, queuing it again", delivery.id)

    queued = requeue(unqueued + lost + abandoned) if unqueued or lost or abandoned else 0
    metrics.record_sweep(unqueued=len(unqueued), lost_job=len(lost), lease_expired=len(abandoned))
    report = SweepReport(queued=queued, reclaimed=len(abandoned), expired=len(stale))
    if report.queued or report.expired:
        log.info("sweep: %s", report)
    return report


def schedule_sweeper(interval: int) -> None:
    """Register the periodic sweep with rq-scheduler, replacing any earlier registration."""
    scheduler = redis_queue.scheduler
    scheduler.cancel(SWEEPER_ID)
    scheduler.schedule(scheduled_time=utcnow(), func=SWEEP_JOB, interval=interval, repeat=None, id=SWEEPER_ID)
