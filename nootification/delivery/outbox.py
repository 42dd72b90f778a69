"""The outbox: deliveries are rows first and jobs second; every way a delivery gets (back) onto the queue."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from rq.utils import get_call_string
from rq.utils import now as rq_now
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nootification.delivery import ledger
from nootification.delivery.lease import LeasedDelivery, still_held
from nootification.extensions import db, redis_queue
from nootification.models import Delivery, DeliveryStatus, utcnow
from nootification.rq_json import readable

log = logging.getLogger(__name__)

SEND_JOB = "nootification.delivery.jobs.send_notification"
JOB_PREFIX = "delivery-"


def job_id_for(delivery_id: str, generation: int) -> str:
    """The RQ job id of one enqueue of a delivery: derived from the delivery id and its enqueue count."""
    return f"{JOB_PREFIX}{delivery_id}-{generation}"


def delivery_id_of(job_id: str) -> str | None:
    """The delivery a job id names, or None for a job that is not a delivery's."""
    if not job_id.startswith(JOB_PREFIX):
        return None
    return job_id[len(JOB_PREFIX) :].rpartition("-")[0] or None


def delivery_of(job: Job) -> str | None:
    """The delivery a job sends: its id names the delivery and its call sends that delivery; else None."""
    delivery_id = delivery_id_of(job.id)
    if delivery_id is None or not readable(job):
        return None
    sends_it = job.func_name == SEND_JOB and job.args == (delivery_id,) and not job.kwargs
    return delivery_id if sends_it else None


@dataclass(frozen=True)
class QueuedJob:
    """One enqueue of a delivery: its id and the generation that names its job."""

    delivery_id: str
    generation: int


def push_jobs(jobs: Sequence[QueuedJob]) -> None:
    """Push one RQ job per delivery in a single Redis pipeline; RedisError when Redis refuses.

    The jobs differ only in their delivery id: RQ builds the first, the others are its hash with their own
    id, call data and description, and every id goes onto the queue in one RPUSH after the hashes. Building
    each through RQ (`enqueue_many`) costs about three times as much, which counts when one alert reaches a
    thousand staff.
    """
    if not jobs:
        return
    queue = redis_queue.queue
    first = queue.create_job(
        SEND_JOB,
        args=(jobs[0].delivery_id,),
        result_ttl=0,  # the outcome lives in the database; keeping it in Redis too costs writes
        status=JobStatus.QUEUED,
    )
    first.origin, first.enqueued_at = queue.name, rq_now()
    # RQ reads a missing field as an empty one: leaving the empty ones out spares encoding and storing them.
    fields = {name: value for name, value in first.to_dict().items() if value != ""}
    job_ids = [job_id_for(job.delivery_id, job.generation) for job in jobs]
    # One MULTI/EXEC: a connection lost halfway must not leave job hashes saying "queued" that no list holds
    # (the sweeper would take them for live jobs).
    with queue.connection.pipeline(transaction=True) as pipeline:
        for job, job_id in zip(jobs, job_ids, strict=True):
            call = (job.delivery_id,)
            pipeline.hset(
                Job.key_for(job_id),
                mapping={
                    **fields,
                    # RQ reads the call data compressed or not; compressing a few bytes is not worth it.
                    "data": first.serializer.dumps((SEND_JOB, None, call, {})),
                    "description": get_call_string(SEND_JOB, call, {}, max_length=75),
                },
            )
        pipeline.rpush(queue.key, *job_ids)
        pipeline.execute()


def enqueue(jobs: Sequence[QueuedJob]) -> int:
    """Push one job per delivery; return how many.

    Each delivery must already be committed as queued with the generation that names its job. When Redis is
    unreachable they go back to pending and the sweeper queues them later; should the process die before the
    push, the sweeper finds them as queued deliveries without a job.
    """
    if not jobs:
        return 0
    try:
        push_jobs(jobs)
    except RedisError as error:
        log.warning("could not queue %d deliveries, the sweeper will: %s", len(jobs), error)
        _back_to_pending([job.delivery_id for job in jobs])
        return 0
    return len(jobs)


def _back_to_pending(delivery_ids: Sequence[str]) -> None:
    table = Delivery.__table__
    try:
        db.session.execute(
            sa.update(table)
            .where(table.c.id.in_(delivery_ids), table.c.status == DeliveryStatus.QUEUED)
            .values(status=DeliveryStatus.PENDING, queued_at=None)
        )
        db.session.commit()
    except SQLAlchemyError as error:
        # Left queued without a job, they are found by the sweeper's lost-job check all the same.
        db.session.rollback()
        log.warning("could not mark %d deliveries pending: %s", len(delivery_ids), error)


def requeue(deliveries: Sequence[Delivery]) -> int:
    """Give each delivery a new job generation, commit it queued, and push its job; how many were queued.

    A compare-and-set against the delivery as it was read: one that changed since (a worker whose lease ran
    out wrote its outcome meanwhile) is left as it now is, or it would be sent again and counted twice.
    """
    table = Delivery.__table__
    now = utcnow()
    queued = []
    for delivery in deliveries:
        lease = delivery.lease_expires_at
        changed = db.session.execute(
            sa.update(table)
            .where(
                table.c.id == delivery.id,
                table.c.status == delivery.status,
                table.c.enqueue_count == delivery.enqueue_count,
                table.c.lease_expires_at.is_(None) if lease is None else table.c.lease_expires_at == lease,
            )
            .values(
                status=DeliveryStatus.QUEUED,
                queued_at=now,
                next_attempt_at=None,
                enqueue_count=delivery.enqueue_count + 1,
                updated_at=now,
            )
        )
        if changed.rowcount == 1:
            queued.append(QueuedJob(delivery.id, delivery.enqueue_count + 1))
    db.session.commit()
    db.session.expire_all()  # the objects read before hold what the compare-and-set replaced
    return enqueue(queued)


@dataclass(frozen=True)
class ScheduledJob:
    """A delivery's job to queue at `at` (its retry): the delivery, its job generation and when."""

    delivery_id: str
    generation: int
    at: datetime


def schedule_jobs(jobs: Sequence[ScheduledJob]) -> None:
    """Hand each job to rq-scheduler for its time; those Redis refuses are queued by the sweeper when due.

    The first refusal ends the round: with Redis stalled, each further try would wait for its own timeout.
    """
    for number, job in enumerate(jobs):
        job_id = job_id_for(job.delivery_id, job.generation)
        try:
            redis_queue.scheduler.enqueue_at(
                job.at, SEND_JOB, job.delivery_id, job_id=job_id, job_result_ttl=0
            )
        except RedisError as error:
            log.warning("could not schedule %d deliveries, the sweeper will: %s", len(jobs) - number, error)
            return


def hand_back(session: Session, deliveries: Sequence[LeasedDelivery]) -> None:
    """Put deliveries a stopping worker still holds back on the queue under a new job; their attempts in
    flight are marked of unknown outcome (the provider may or may not have them)."""
    table = Delivery.__table__
    now = utcnow()
    session.execute(
        sa.update(table)
        .where(*still_held())
        .values(
            status=DeliveryStatus.QUEUED,
            queued_at=now,
            lease_expires_at=None,
            enqueue_count=sa.bindparam("h_generation"),
            updated_at=now,
        ),
        [{"held_id": d.id, "held_lease": d.lease, "h_generation": d.enqueue_count + 1} for d in deliveries],
    )
    ledger.mark_unknown(session, [delivery.id for delivery in deliveries])
    session.commit()
    push_jobs([QueuedJob(delivery.id, delivery.enqueue_count + 1) for delivery in deliveries])


def expire(delivery: Delivery, reason: str) -> None:
    """Give up on a delivery whose alert is no longer fresh."""
    delivery.status = DeliveryStatus.EXPIRED
    delivery.lease_expires_at = None
    delivery.next_attempt_at = None
    delivery.last_error = reason
    db.session.commit()
    log.error("delivery %s expired: %s", delivery.id, reason)
