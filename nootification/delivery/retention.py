"""The daily purge's place in rq-scheduler's schedule, registered the way the periodic sweep is."""

import logging

from nootification.delivery import queue

log = logging.getLogger(__name__)

PURGE_JOB = "nootification.delivery.jobs.purge_expired"
PURGER_ID = "nootification-purge"
PURGE_INTERVAL = 24 * 60 * 60


def schedule_purge() -> None:
    """Register the daily purge with rq-scheduler (first run now), replacing any earlier registration."""
    queue.schedule_repeating(PURGER_ID, PURGE_JOB, PURGE_INTERVAL)


def ensure_purge() -> bool:
    """Register the daily purge again if Redis lost it; whether it had to."""
    if queue.is_scheduled(PURGER_ID):
        return False
    log.warning("the daily purge was not scheduled (Redis lost it): scheduling it again")
    schedule_purge()
    return True
