"""The provider's receipt of a message it accepted: Twilio's SMS status, kept on the attempt that sent it;
and likewise a call's final status, on the attempt that placed it.

The attempt is found by the message SID it kept as its provider reference. Only a final status is kept
(delivered, undelivered, failed), once: the first to arrive, as Twilio may post a callback again. `delivered`
also marks the delivery arrived, unless the phone already said so; `undelivered` or `failed` brings the
person's next step of the shop's ladder forward to now.
"""

import enum
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from nootification.delivery.ladder import hurry_next_step
from nootification.extensions import db
from nootification.models import Delivery, DeliveryAttempt, utcnow
from nootification.observability import metrics

ATTEMPTS = DeliveryAttempt.__table__
DELIVERIES = Delivery.__table__
SMS_CHANNEL = "sms"
VOICE_CHANNEL = "voice"
DELIVERED = "delivered"
ANSWERED = "completed"
# Twilio's error codes are five digits; anything longer is cut to the column.
MAX_ERROR_CODE = 16


class ReceiptResult(enum.StrEnum):
    """What became of a status callback."""

    STORED = "stored"
    REPEAT = "repeat"
    UNKNOWN_MESSAGE = "unknown_message"
    NOT_FINAL = "not_final"


def record_sms_status(*, message_sid: str, status: str, error_code: str | None) -> ReceiptResult:
    """Keep a final SMS status on the attempt whose provider reference is `message_sid`; others change
    nothing. An unknown SID is counted, as is each status kept."""
    if status not in metrics.SMS_FINAL_STATUSES:
        return ReceiptResult.NOT_FINAL
    attempt = _attempt_of(message_sid, SMS_CHANNEL)
    if attempt is None:
        metrics.record_sms_status_unmatched()
        return ReceiptResult.UNKNOWN_MESSAGE
    now = utcnow()
    kept = _keep(attempt, status, error_code, arrived=status == DELIVERED, now=now)
    if kept and status != DELIVERED:
        hurry_next_step(attempt.delivery_id, now)
    db.session.commit()
    if not kept:
        return ReceiptResult.REPEAT
    metrics.record_sms_status(status)
    return ReceiptResult.STORED


def _attempt_of(sid: str, channel: str) -> sa.Row | None:
    """The attempt (its id and its delivery's) that sent the message or call Twilio names `sid`."""
    return db.session.execute(
        sa.select(ATTEMPTS.c.id, ATTEMPTS.c.delivery_id)
        .join(DELIVERIES, DELIVERIES.c.id == ATTEMPTS.c.delivery_id)
        .where(ATTEMPTS.c.provider_ref == sid, DELIVERIES.c.channel == channel)
        .limit(1)
    ).first()


def _keep(attempt: sa.Row, status: str, error_code: str | None, *, arrived: bool, now: datetime) -> bool:
    """Keep the status on the attempt unless one is kept already (Twilio may post it again), in the caller's
    transaction; when it says the message reached the person, mark the delivery arrived (unless the phone
    said so first). Whether it was kept."""
    code = (error_code or "")[:MAX_ERROR_CODE] or None
    kept = db.session.execute(
        sa.update(ATTEMPTS)
        .where(ATTEMPTS.c.id == attempt.id, ATTEMPTS.c.provider_status.is_(None))
        .values(provider_status=status, provider_error_code=code, provider_status_at=now)
    ).rowcount
    if kept and arrived:
        db.session.execute(
            sa.update(DELIVERIES)
            .where(DELIVERIES.c.id == attempt.delivery_id, DELIVERIES.c.delivered_at.is_(None))
            .values(delivered_at=now)
        )
    return bool(kept)


@dataclass(frozen=True)
class CallReceipt:
    """What became of a call's status callback, and the delivery whose call it was (when known)."""

    result: ReceiptResult
    delivery_id: str | None = None


def record_call_status(*, call_sid: str, status: str, error_code: str | None) -> CallReceipt:
    """Keep a call's final status (completed, busy, no-answer, failed, canceled) on the attempt whose
    provider reference is `call_sid`, once; others change nothing. An unknown SID is counted, as is each
    status kept; `completed` (someone picked up) also marks the delivery arrived."""
    if status not in metrics.VOICE_FINAL_STATUSES:
        return CallReceipt(ReceiptResult.NOT_FINAL)
    attempt = _attempt_of(call_sid, VOICE_CHANNEL)
    if attempt is None:
        metrics.record_call_status_unmatched()
        return CallReceipt(ReceiptResult.UNKNOWN_MESSAGE)
    # Someone picked up: the alert reached a person, as a delivered SMS did.
    kept = _keep(attempt, status, error_code, arrived=status == ANSWERED, now=utcnow())
    db.session.commit()
    if not kept:
        return CallReceipt(ReceiptResult.REPEAT, attempt.delivery_id)
    metrics.record_call_status(status)
    return CallReceipt(ReceiptResult.STORED, attempt.delivery_id)
