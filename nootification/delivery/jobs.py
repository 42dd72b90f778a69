"""RQ job functions; they take primitive ids and run inside the worker's application context.

The delivery engine (`flask worker`) takes delivery jobs in batches without calling `send_notification`;
any RQ worker can still run one, the same way, one delivery at a time (the tests' burst worker does).
"""

import logging
from functools import partial

from flask import current_app

from nootification.delivery import batch, ladder, ledger
from nootification.delivery.attempt import run_attempts
from nootification.delivery.breakers import Breakers
from nootification.delivery.retry import QuickRetries
from nootification.extensions import db, redis_queue
from nootification.models import utcnow
from nootification.observability.logs import log_context
from nootification.senders import get_sender
from nootification.services.retention import purge

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


def purge_expired() -> dict:
    """The daily purge: clips and ledger texts past their retention; the counts of what went."""
    try:
        report = purge()
        log.info("purge: %s", report)
        return report.as_dict()
    finally:
        db.session.remove()
