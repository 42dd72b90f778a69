"""Phone numbers whose calls keep failing: counted, and paused for a while so that nobody dials them in vain.

A call that ends `failed` (Twilio could not place it: a number out of service, a carrier refusing) counts one
more failure in a row for its number; any other end (completed, busy, no-answer, canceled: the number works)
starts the count again, and forgets the number. At VOICE_PAUSE_AFTER_FAILURES in a row the number is paused
for VOICE_PAUSE_SECONDS. Only numbers with failed calls are kept, and an erased user's goes with them.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from nootification.extensions import db
from nootification.models import VoicePause
from nootification.observability import metrics

PAUSES = VoicePause.__table__


def paused_until(number: str, now: datetime) -> datetime | None:
    """Until when calls to `number` are paused, or None when they are not."""
    until = db.session.scalar(sa.select(PAUSES.c.paused_until).where(PAUSES.c.number == number))
    return until if until is not None and until > now else None


def count_call_end(number: str, *, failed: bool, now: datetime, config: Mapping) -> bool:
    """Count how a call to `number` ended; whether this end paused it (counted)."""
    if not failed:
        # The number works: nothing to remember of it (a pause still running stays).
        db.session.execute(
            sa.delete(PAUSES).where(
                PAUSES.c.number == number,
                sa.or_(PAUSES.c.paused_until.is_(None), PAUSES.c.paused_until <= now),
            )
        )
        db.session.commit()
        return False
    _ensure_row(number, now)
    db.session.execute(
        sa.update(PAUSES)
        .where(PAUSES.c.number == number)
        .values(failed_in_row=PAUSES.c.failed_in_row + 1, updated_at=now)
    )
    # One statement decides: of two failures counted at once, only one pauses the number.
    paused = db.session.execute(
        sa.update(PAUSES)
        .where(PAUSES.c.number == number, PAUSES.c.failed_in_row >= config["VOICE_PAUSE_AFTER_FAILURES"])
        .values(failed_in_row=0, paused_until=now + timedelta(seconds=config["VOICE_PAUSE_SECONDS"]))
    ).rowcount
    db.session.commit()
    if paused:
        metrics.record_number_paused()
    return bool(paused)


def _ensure_row(number: str, now: datetime) -> None:
    if db.session.get(VoicePause, number) is not None:
        return
    db.session.add(VoicePause(number=number, failed_in_row=0, updated_at=now))
    try:
        db.session.commit()
    except IntegrityError:
        # Another callback for the same number made it first: its row serves.
        db.session.rollback()
