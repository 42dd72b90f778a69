"""The attempt ledger: a row per attempt, written as in flight before its request leaves, completed after."""

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from nootification.delivery.attempt import AttemptResult
from nootification.delivery.lease import attempts_made
from nootification.extensions import db
from nootification.models import AttemptOutcomeKind, Delivery, DeliveryAttempt, DeliveryKind
from nootification.senders.base import SendError, TransientSendError

MAX_ERROR_LENGTH = 500
ATTEMPTS = DeliveryAttempt.__table__
# A hot path's statement, built once (see delivery/lease.py): every batch's outcomes run it.
FINISH_ATTEMPT = (
    sa.update(ATTEMPTS)
    .where(ATTEMPTS.c.delivery_id == sa.bindparam("d_id"), ATTEMPTS.c.number == sa.bindparam("d_number"))
    .values(
        started_at=sa.bindparam("d_started_at"),
        finished_at=sa.bindparam("d_finished_at"),
        outcome=sa.bindparam("d_outcome"),
        http_status=sa.bindparam("d_http_status"),
        error_class=sa.bindparam("d_error_class"),
        error_message=sa.bindparam("d_error_message"),
        latency_ms=sa.bindparam("d_latency_ms"),
        retry_after=sa.bindparam("d_retry_after"),
        provider_ref=sa.bindparam("d_provider_ref"),
    )
)


def trim(text: str) -> str:
    """An error text cut to what the ledger and the delivery keep."""
    return text[:MAX_ERROR_LENGTH]


def outcome_kind(error: SendError | None) -> AttemptOutcomeKind:
    """The ledger's name for how an attempt ended."""
    if error is None:
        return AttemptOutcomeKind.SENT
    if isinstance(error, TransientSendError):
        return AttemptOutcomeKind.TRANSIENT
    return AttemptOutcomeKind.PERMANENT


def start(session: Session | Connection, attempts: Sequence[tuple[str, int, datetime]]) -> None:
    """Record attempts (delivery id, number, start) as in flight; not committed."""
    if attempts:
        session.execute(
            sa.insert(ATTEMPTS),
            [
                {
                    "delivery_id": delivery_id,
                    "number": number,
                    "started_at": started_at,
                    "outcome": AttemptOutcomeKind.IN_FLIGHT,
                }
                for delivery_id, number, started_at in attempts
            ],
        )


def record_start(engine: Engine, delivery_id: str, number: int, started_at: datetime) -> None:
    """Record one attempt as in flight in a transaction of its own (a retry, from a sending slot)."""
    with engine.begin() as connection:
        start(connection, [(delivery_id, number, started_at)])


def finish(session: Session, results: Sequence[tuple[str, AttemptResult]]) -> None:
    """Complete the in-flight rows of these attempts with how each went; not committed."""
    if not results:
        return
    session.execute(FINISH_ATTEMPT, [_row(delivery_id, result) for delivery_id, result in results])


def _row(delivery_id: str, result: AttemptResult) -> dict:
    error = result.error
    return {
        "d_id": delivery_id,
        "d_number": result.number,
        "d_started_at": result.started_at,
        "d_finished_at": result.started_at + timedelta(seconds=result.latency),
        "d_outcome": outcome_kind(error),
        "d_http_status": None if error is None else error.http_status,
        "d_error_class": None if error is None else type(error).__name__,
        "d_error_message": None if error is None else trim(str(error)),
        "d_latency_ms": result.latency * 1000,
        "d_retry_after": None if error is None else error.retry_after,
        "d_provider_ref": result.provider_ref,
    }


def mark_unknown(session: Session, delivery_ids: Sequence[str]) -> None:
    """Attempts left in flight by a worker that died or stopped: their outcome is unknown, and they count in
    their deliveries' attempts; not committed."""
    if not delivery_ids:
        return
    session.execute(
        sa.update(ATTEMPTS)
        .where(ATTEMPTS.c.delivery_id.in_(delivery_ids), ATTEMPTS.c.outcome == AttemptOutcomeKind.IN_FLIGHT)
        .values(outcome=AttemptOutcomeKind.UNKNOWN)
    )
    deliveries = Delivery.__table__
    session.execute(
        sa.update(deliveries)
        .where(deliveries.c.id.in_(delivery_ids))
        .values(attempts=attempts_made(deliveries.c.id))
    )


def sent_message_ref(alert_id: int, user_id: int, channel: str, point_id: int) -> str | None:
    """The provider's id of the message an alert's delivery to this person's point sent (the latest try that
    got one), which a later notice edits; None when none was sent."""
    return db.session.scalar(
        sa.select(DeliveryAttempt.provider_ref)
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(
            Delivery.alert_id == alert_id,
            Delivery.user_id == user_id,
            Delivery.channel == channel,
            Delivery.contact_point_id == point_id,
            Delivery.kind == DeliveryKind.ALERT,
            DeliveryAttempt.outcome == AttemptOutcomeKind.SENT,
            DeliveryAttempt.provider_ref.is_not(None),
        )
        .order_by(DeliveryAttempt.number.desc())
        .limit(1)
    )
