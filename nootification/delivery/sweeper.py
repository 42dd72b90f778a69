"""The sweeper: a delivery without a live job gets one, abandoned ones come back, stale ones expire (the
periodic job, nootification/periodic.py, runs it with the staff loop's due work)."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nootification.delivery import ledger, queue
from nootification.delivery.batch import record_final
from nootification.delivery.outbox import expire, requeue
from nootification.delivery.queue import job_id_for
from nootification.extensions import db
from nootification.models import FINAL_STATUSES, Delivery, DeliveryStatus, utcnow
from nootification.observability import metrics

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    queued: int
    reclaimed: int
    expired: int
    escalated: int = 0


def _without_live_job(deliveries: Sequence[Delivery], grace: datetime, stuck: set[str]) -> list[Delivery]:
    """The queued deliveries whose current job is gone, ended without giving the delivery a final status, is
    `stuck` in the intermediate list, or was started before `grace` by a worker that never claimed it."""
    job_ids = [job_id_for(delivery.id, delivery.enqueue_count) for delivery in deliveries]
    lost = queue.lost_jobs(job_ids, grace) | stuck
    return [delivery for delivery, job_id in zip(deliveries, job_ids, strict=True) if job_id in lost]


def _select(*conditions) -> list[Delivery]:
    return list(db.session.scalars(sa.select(Delivery).where(*conditions).limit(SWEEP_BATCH)))


# The statuses a delivery can still leave. Named, not "not final": a database reads the few deliveries of
# these statuses through the index on status, where "NOT IN the final ones" reads every delivery ever made.
LIVE_STATUSES = tuple(status for status in DeliveryStatus if status not in FINAL_STATUSES)


def stale_conditions(now: datetime) -> list[sa.ColumnElement[bool]]:
    """Which deliveries went stale unsent by `now`: past their deadline, still live, and not being sent
    under a live lease."""
    return [
        Delivery.status.in_(LIVE_STATUSES),
        Delivery.deadline_at < now,
        sa.or_(Delivery.status != DeliveryStatus.SENDING, Delivery.lease_expires_at < now),
    ]


def sweep(now: datetime | None = None) -> SweepReport:
    """Queue deliveries that never got a job or lost theirs, take back expired leases, expire stale ones."""
    now = now or utcnow()
    grace = now - timedelta(seconds=current_app.config["PENDING_GRACE"])

    stale = _select(*stale_conditions(now))
    ledger.mark_unknown(db.session, [delivery.id for delivery in stale])
    for delivery in stale:
        expire(delivery, "the alert went stale before the delivery could be made")
        record_final(delivery, delivery.status)

    unqueued = _select(Delivery.status == DeliveryStatus.PENDING, Delivery.created_at < grace)
    stuck = queue.stuck_in_intermediate(grace)
    # A scheduled delivery has no job to lose: the engine queues it when it is due.
    lost = _without_live_job(
        _select(Delivery.status == DeliveryStatus.QUEUED, Delivery.queued_at < grace), grace, stuck
    )
    abandoned = _select(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now)
    for delivery in abandoned:
        log.warning("delivery %s: its worker's lease expired, queuing it again", delivery.id)
    # An attempt its dead worker left in flight may or may not have reached the provider.
    ledger.mark_unknown(db.session, [delivery.id for delivery in abandoned])

    replaced = stuck & {job_id_for(delivery.id, delivery.enqueue_count) for delivery in lost}
    queued = requeue(unqueued + lost + abandoned) if unqueued or lost or abandoned else 0
    db.session.commit()
    queue.release(replaced)
    metrics.record_sweep(unqueued=len(unqueued), lost_job=len(lost), lease_expired=len(abandoned))
    return SweepReport(queued=queued, reclaimed=len(abandoned), expired=len(stale))
