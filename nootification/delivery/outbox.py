"""The outbox: deliveries are rows first and jobs second; every way a delivery gets (back) onto the queue,
a later send (a retry) included: a scheduled row the engine queues when it is due."""

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nootification.delivery import ledger
from nootification.delivery.lease import LeasedDelivery, still_held
from nootification.delivery.queue import QueuedJob, push_jobs
from nootification.extensions import db
from nootification.models import Delivery, DeliveryStatus, utcnow

log = logging.getLogger(__name__)


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


def queue_due(session: Session, now: datetime, limit: int) -> int:
    """Queue up to `limit` scheduled deliveries whose time has come; how many were queued.

    A read first, so that a round with nothing due writes nothing (on SQLite a write takes the database's one
    write lock); then one compare-and-set: the UPDATE takes only rows still scheduled, so of several engines
    at it each row goes to one. Each gets a new job generation (a job named by an older one, an upgrade's
    leftover in rq-scheduler, finds it no longer waiting). Should Redis refuse the push, they go back to
    pending and the sweeper queues them.
    """
    table = Delivery.__table__
    due = session.scalars(
        sa.select(table.c.id)
        .where(table.c.status == DeliveryStatus.SCHEDULED, table.c.next_attempt_at <= now)
        .order_by(table.c.next_attempt_at)
        .limit(limit)
    ).all()
    if not due:
        session.rollback()  # ends the read's transaction: no snapshot held open between rounds
        return 0
    rows = session.execute(
        sa.update(table)
        .where(
            table.c.id.in_(due),
            table.c.status == DeliveryStatus.SCHEDULED,
            table.c.next_attempt_at <= now,
        )
        .values(
            status=DeliveryStatus.QUEUED,
            queued_at=now,
            next_attempt_at=None,
            enqueue_count=table.c.enqueue_count + 1,
            updated_at=now,
        )
        .returning(table.c.id, table.c.enqueue_count)
    ).all()
    session.commit()
    return enqueue([QueuedJob(row.id, row.enqueue_count) for row in rows])


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
