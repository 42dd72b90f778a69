"""Outbound records of the kinds besides an alert's deliveries: written in the caller's transaction, so that
they are committed with what they tell (an outcome, a claim, a registration), and queued after the commit."""

from collections.abc import Sequence
from datetime import datetime

from nootification.delivery.outbox import QueuedJob, enqueue
from nootification.extensions import db
from nootification.models import Delivery, DeliveryKind, DeliveryStatus, new_id

DELIVERIES = Delivery.__table__


def add(
    *,
    kind: DeliveryKind,
    channel: str,
    now: datetime,
    alert_id: int | None = None,
    user_id: int | None = None,
    contact_point_id: int = 0,
    deadline_at: datetime | None = None,
) -> QueuedJob:
    """Write a queued record in the caller's transaction; its job, to `queue` once that is committed.

    Should the job never be pushed (the process dies, Redis refuses), the sweeper finds the record queued
    without a job and queues it: nothing committed is lost.
    """
    record_id = new_id()
    db.session.execute(
        DELIVERIES.insert().values(
            id=record_id,
            kind=kind,
            alert_id=alert_id,
            user_id=user_id,
            channel=channel,
            contact_point_id=contact_point_id,
            status=DeliveryStatus.QUEUED,
            attempts=0,
            created_at=now,
            updated_at=now,
            queued_at=now,
            enqueue_count=1,
            deadline_at=deadline_at,
        )
    )
    return QueuedJob(record_id, 1)


def queue(jobs: Sequence[QueuedJob]) -> int:
    """Push the jobs of committed records; how many went (the sweeper queues the others)."""
    return enqueue(jobs)
