"""RQ job functions; they take primitive ids and run inside the worker's application context.

The delivery engine (`flask worker`) takes delivery jobs in batches without calling `send_notification`;
any RQ worker can still run one, the same way, one delivery at a time (the tests' burst worker does).
"""

import logging
import time
from datetime import datetime
from functools import partial

from flask import current_app

from nootification.delivery import batch, ladder, ledger
from nootification.delivery.attempt import run_attempts
from nootification.delivery.breakers import Breakers
from nootification.delivery.queue import delivery_queue
from nootification.delivery.retention import PURGE_JOB
from nootification.delivery.retry import QuickRetries
from nootification.extensions import db, redis_queue
from nootification.models import utcnow
from nootification.observability.logs import log_context
from nootification.senders import get_sender
from nootification.services.retention import Pace, PurgeReport, purge

log = logging.getLogger(__name__)


def send_notification(delivery_id: str) -> None:
    """Deliver one message through the same steps as the engine, in this process; release the session."""
    config = current_app.config
    breakers = Breakers(
        redis_queue.connection,
        threshold=config["BREAKER_FAILURE_THRESHOLD"],
        cooldown=config["BREAKER_COOLDOWN"],
    )
    try:
        with log_context(delivery_id=delivery_id):
            ready = batch.prepare(
                db.session,
                [delivery_id],
                get_sender=get_sender,
                breakers=breakers,
                config=config,
                now=utcnow(),
            )
            quick = QuickRetries.from_config(config)
            start_attempt = partial(ledger.record_start, db.engine)
            not_needed = partial(ladder.not_needed_now, db.engine)
            outcomes = [
                (
                    item,
                    run_attempts(
                        item,
                        breakers=breakers,
                        quick=quick,
                        start_attempt=start_attempt,
                        not_needed=not_needed,
                    ),
                )
                for item in ready
            ]
            batch.finish(db.session, outcomes, config=config, now=utcnow())
    finally:
        db.session.remove()


def purge_expired(as_of: str | None = None, earlier: dict | None = None) -> dict:
    """The daily purge: clips and ledger texts past their retention (as of `as_of`, ISO 8601; default now);
    the counts of what went, with those of its `earlier` slices. It runs in a delivery engine's loop, which
    takes no job while it runs: past PURGE_SLICE_SECONDS it starts no new batch and queues the rest of the
    purge at the back of the queue, after the deliveries queued meanwhile."""
    try:
        now = datetime.fromisoformat(as_of) if as_of else utcnow()
        deadline = time.monotonic() + current_app.config["PURGE_SLICE_SECONDS"]
        report = purge(
            now=now, pace=Pace(deadline=deadline), earlier=PurgeReport(**earlier) if earlier else None
        )
        if not report.complete:
            delivery_queue().enqueue(PURGE_JOB, now.isoformat(), report.as_dict())
        log.info("purge: %s", report)
        return report.as_dict()
    finally:
        db.session.remove()
