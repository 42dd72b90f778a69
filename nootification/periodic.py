"""The periodic sweep, one RQ job that rq-scheduler repeats: the delivery wing's sweep (every outbound record:
deliveries, vendor events, notices), then the staff loop's due work (escalation steps).

It lives above both so that neither calls the other: delivery/ knows nothing of the staff loop.
"""

import dataclasses
import logging
from datetime import datetime

from nootification.delivery import queue, sweeper
from nootification.delivery.sweeper import SweepReport
from nootification.extensions import db
from nootification.models import utcnow
from nootification.staff.escalation import escalate_due

log = logging.getLogger(__name__)

SWEEP_JOB = "nootification.periodic.sweep_deliveries"
SWEEPER_ID = "nootification-sweeper"


def sweep(now: datetime | None = None) -> SweepReport:
    """Sweep the outbound records, then take the escalation steps that are due."""
    now = now or utcnow()
    report = sweeper.sweep(now)
    report = dataclasses.replace(report, escalated=escalate_due(now))
    if report.queued or report.expired or report.escalated:
        log.info("sweep: %s", report)
    return report


def sweep_deliveries() -> dict:
    """The periodic sweep's job: queue what has no job, take back abandoned deliveries, expire stale ones,
    escalate when due."""
    try:
        report = sweep()
        return {"queued": report.queued, "reclaimed": report.reclaimed, "expired": report.expired}
    finally:
        db.session.remove()


def schedule_sweeper(interval: int) -> None:
    """Register the periodic sweep with rq-scheduler, replacing any earlier registration."""
    queue.schedule_repeating(SWEEPER_ID, SWEEP_JOB, interval)


def ensure_sweeper(interval: int) -> bool:
    """Register the periodic sweep again if Redis lost it (a crash loses its last second of writes); whether
    it had to. Without it, nothing would take back what that same crash lost."""
    if queue.is_scheduled(SWEEPER_ID):
        return False
    log.warning("the periodic sweep was not scheduled (Redis lost it): scheduling it again")
    schedule_sweeper(interval)
    return True
