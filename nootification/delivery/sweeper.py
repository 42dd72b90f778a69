"""The sweeper: a delivery without a live job gets one, abandoned ones come back, stale ones expire (the
periodic job, nootification/periodic.py, runs it with the staff loop's due work)."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from rq.intermediate_queue import IntermediateQueue
from rq.job import JobStatus
from rq.utils import utcparse

from nootification.delivery import ledger
from nootification.delivery.batch import record_final
from nootification.delivery.outbox import expire, job_id_for, requeue
from nootification.extensions import db, redis_queue
from nootification.models import FINAL_STATUSES, Delivery, DeliveryStatus, utcnow
from nootification.observability import metrics

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000
# A job in one of these states will never run again: its delivery, still waiting, has lost it.
DEAD_JOB_STATES = {
    JobStatus.FINISHED.value,
    JobStatus.FAILED.value,
    JobStatus.STOPPED.value,
    JobStatus.CANCELED.value,
}


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    queued: int
    reclaimed: int
    expired: int
    escalated: int = 0


def _intermediate() -> IntermediateQueue:
    return IntermediateQueue(redis_queue.queue.key, connection=redis_queue.connection)


def _stuck_in_intermediate(grace: datetime) -> set[str]:
    """The job ids a worker moved to the queue's intermediate list and never started, seen there since before
    `grace` (Redis failed, or the worker died, between the move and the start: a live worker starts them
    within milliseconds). The first sweep to see a job there marks it, with RQ's own marker."""
    intermediate = _intermediate()
    stuck = set()
    for job_id in intermediate.get_job_ids():
        intermediate.set_first_seen(job_id)
        first_seen = intermediate.get_first_seen(job_id)
        if first_seen and first_seen < grace:
            stuck.add(job_id)
    return stuck


def _release(job_ids: set[str]) -> None:
    """Take the jobs of deliveries queued again out of the intermediate list, with their hash and marker."""
    intermediate = _intermediate()
    for job_id in job_ids:
        if redis_queue.connection.lrem(intermediate.key, 1, job_id):
            redis_queue.connection.delete(f"rq:job:{job_id}", intermediate.get_first_seen_key(job_id))


def _without_live_job(deliveries: Sequence[Delivery], grace: datetime, stuck: set[str]) -> list[Delivery]:
    """The deliveries whose current job is gone, ended without giving the delivery a final status, says it is
    scheduled but is not in rq-scheduler's schedule, is `stuck` in the intermediate list, or was started
    before `grace` by a worker that never claimed the delivery (it died between the two: a live worker claims
    within milliseconds of starting a job)."""
    schedule = redis_queue.scheduler.scheduled_jobs_key
    with redis_queue.connection.pipeline(transaction=False) as pipeline:
        for delivery in deliveries:
            job_id = job_id_for(delivery.id, delivery.enqueue_count)
            pipeline.hmget(f"rq:job:{job_id}", "status", "started_at")
            pipeline.zscore(schedule, job_id)
        answers = pipeline.execute()
    jobs = zip(answers[::2], answers[1::2], strict=True)
    return [
        delivery
        for delivery, ((state, started_at), in_schedule) in zip(deliveries, jobs, strict=True)
        if job_id_for(delivery.id, delivery.enqueue_count) in stuck
        or _lost(state, started_at, in_schedule is not None, grace)
    ]


def _lost(state: bytes | None, started_at: bytes | None, in_schedule: bool, grace: datetime) -> bool:
    if state is None or state.decode() in DEAD_JOB_STATES:
        return True
    if state.decode() == JobStatus.SCHEDULED.value:
        # rq-scheduler saves a job, then adds it to its schedule, in two commands: a Redis stall or crash
        # between them leaves a job nothing will ever queue. (It queues a due job before taking it out of
        # the schedule, so a job that left the schedule normally is "queued" by then.)
        return not in_schedule
    return (
        state.decode() == JobStatus.STARTED.value
        and bool(started_at)
        and utcparse(started_at.decode()) < grace
    )


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
    ledger.mark_unknown(db.session, [delivery.id for delivery in stale])
    for delivery in stale:
        expire(delivery, "the alert went stale before the delivery could be made")
        record_final(delivery, delivery.status)

    unqueued = _select(Delivery.status == DeliveryStatus.PENDING, Delivery.created_at < grace)
    stuck = _stuck_in_intermediate(grace)
    lost = _without_live_job(
        _select(Delivery.status == DeliveryStatus.QUEUED, Delivery.queued_at < grace)
        + _select(Delivery.status == DeliveryStatus.SCHEDULED, Delivery.next_attempt_at < grace),
        grace,
        stuck,
    )
    abandoned = _select(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now)
    for delivery in abandoned:
        log.warning("delivery %s: its worker's lease expired, queuing it again", delivery.id)
    # An attempt its dead worker left in flight may or may not have reached the provider.
    ledger.mark_unknown(db.session, [delivery.id for delivery in abandoned])

    replaced = stuck & {job_id_for(delivery.id, delivery.enqueue_count) for delivery in lost}
    queued = requeue(unqueued + lost + abandoned) if unqueued or lost or abandoned else 0
    db.session.commit()
    _release(replaced)
    metrics.record_sweep(unqueued=len(unqueued), lost_job=len(lost), lease_expired=len(abandoned))
    return SweepReport(queued=queued, reclaimed=len(abandoned), expired=len(stale))
