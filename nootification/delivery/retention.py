"""The daily purge's place in rq-scheduler's schedule, registered the way the periodic sweep is."""

import logging

from nootification.extensions import redis_queue
from nootification.models import utcnow

log = logging.getLogger(__name__)

PURGE_JOB = "nootification.delivery.jobs.purge_expired"
PURGER_ID = "nootification-purge"
PURGE_INTERVAL = 24 * 60 * 60


def schedule_purge() -> None:
    """Register the daily purge with rq-scheduler (first run now), replacing any earlier registration."""
    scheduler = redis_queue.scheduler
    scheduler.cancel(PURGER_ID)
    scheduler.schedule(
        scheduled_time=utcnow(), func=PURGE_JOB, interval=PURGE_INTERVAL, repeat=None, id=PURGER_ID
    )


def ensure_purge() -> bool:
    """Register the daily purge again if Redis lost it; whether it had to."""
    scheduler = redis_queue.scheduler
    if redis_queue.connection.zscore(scheduler.scheduled_jobs_key, PURGER_ID) is not None:
        return False
    log.warning("the daily purge was not scheduled (Redis lost it): scheduling it again")
    schedule_purge()
    return True
