"""Carrying out one delivery: claim it, send it through its channel, record every attempt and the outcome."""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from nootification import metrics
from nootification.circuit import CircuitBreaker
from nootification.extensions import db, redis_queue
from nootification.logs import log_context
from nootification.models import (
    Alert,
    AttemptOutcomeKind,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    User,
    utcnow,
)
from nootification.senders import get_sender
from nootification.senders.base import (
    AttemptOutcome,
    CircuitOpenError,
    Message,
    MessageSender,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from nootification.services.contacts import contact_for
from nootification.services.outbox import expire, schedule
from nootification.services.retry import retry_delay
from nootification.services.templates import TemplateRenderError, render_for

log = logging.getLogger(__name__)

CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED, DeliveryStatus.SCHEDULED)
MAX_ERROR_LENGTH = 500


def claim(delivery_id: str) -> bool:
    """Take a delivery for sending under a lease (compare-and-set on its status); False if taken."""
    now = utcnow()
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(CLAIMABLE))
        .values(
            status=DeliveryStatus.SENDING,
            lease_expires_at=now + timedelta(seconds=current_app.config["DELIVERY_LEASE"]),
            updated_at=now,
        )
    )
    db.session.commit()
    return result.rowcount == 1


class UndeliverableError(Exception):
    """The delivery cannot be made at all: its contact point is gone or its template fails."""


def message_for(delivery: Delivery) -> Message:
    """The rendered message of a delivery, addressed to the user's contact point on its channel."""
    alert, user = delivery.alert, delivery.user
    contact = contact_for(user, delivery.channel)
    if contact is None or not contact.enabled:
        raise UndeliverableError(f"the user has no enabled {delivery.channel} contact point")
    try:
        rendered = render_for(alert, user, delivery.channel)
    except TemplateRenderError as error:
        raise UndeliverableError(str(error)) from error
    return Message(
        delivery_id=delivery.id,
        user_uuid=user.user_uuid,
        address=contact.address,
        alert_uuid=alert.alert_uuid,
        url=alert.url,
        location=alert.location.name,
        label=alert.label,
        severity=alert.severity.value,
        time_spotted=alert.time_spotted.timestamp(),
        subject=rendered.subject,
        body=rendered.body,
        options=contact.options,
    )


def breaker_for(sender: MessageSender, message: Message) -> CircuitBreaker:
    """The circuit breaker of the sender's destination for this message."""
    config = current_app.config
    return CircuitBreaker(
        redis_queue.connection,
        f"{sender.channel}:{sender.destination(message)}",
        threshold=config["BREAKER_FAILURE_THRESHOLD"],
        cooldown=config["BREAKER_COOLDOWN"],
    )


def _outcome_kind(error: SendError | None) -> AttemptOutcomeKind:
    if error is None:
        return AttemptOutcomeKind.SENT
    return (
        AttemptOutcomeKind.TRANSIENT
        if isinstance(error, TransientSendError)
        else AttemptOutcomeKind.PERMANENT
    )


def _trim(text: str) -> str:
    return text[:MAX_ERROR_LENGTH]


def record_attempt(delivery: Delivery, outcome: AttemptOutcome) -> None:
    """Add the attempt to the ledger; a failed one is committed at once so the ledger stays true mid-retry."""
    delivery.attempts += 1
    error = outcome.error
    metrics.record_attempt(delivery.channel, _outcome_kind(error))
    db.session.add(
        DeliveryAttempt(
            delivery=delivery,
            number=delivery.attempts,
            started_at=outcome.started_at,
            finished_at=outcome.started_at + timedelta(seconds=outcome.latency),
            outcome=_outcome_kind(error),
            http_status=None if error is None else error.http_status,
            error_class=None if error is None else type(error).__name__,
            error_message=None if error is None else _trim(str(error)),
            latency_ms=outcome.latency * 1000,
            retry_after=None if error is None else error.retry_after,
        )
    )
    if error is not None:
        delivery.last_error = _trim(str(error))
        db.session.commit()


def _finish(delivery: Delivery, status: DeliveryStatus) -> None:
    delivery.status = status
    delivery.lease_expires_at = None
    if status is DeliveryStatus.SENT:
        delivery.sent_at = utcnow()
        delivery.last_error = None
    db.session.commit()
    metrics.record_delivery_final(delivery)


def _retry_later(delivery: Delivery, error: TransientSendError) -> None:
    delay = retry_delay(delivery.retry_round, error.retry_after, current_app.config)
    at = utcnow() + timedelta(seconds=delay)
    if delivery.deadline_at is not None and at > delivery.deadline_at:
        expire(delivery, _trim(f"no retry before the alert goes stale; last error: {error}"))
        return
    delivery.retry_round += 1
    schedule(delivery, at=at, reason=_trim(str(error)))
    metrics.record_reschedule(delivery.channel, "backoff")
    log.warning("delivery %s: retry %d in %.1f s after: %s", delivery.id, delivery.retry_round, delay, error)


def _defer(delivery: Delivery, error: CircuitOpenError) -> None:
    at = utcnow() + timedelta(seconds=max(error.retry_after or 0.0, 0.5))
    if delivery.deadline_at is not None and at > delivery.deadline_at:
        expire(delivery, _trim(f"{error} until after the alert goes stale"))
        return
    schedule(delivery, at=at, reason=str(error))
    metrics.record_reschedule(delivery.channel, "circuit_open")
    log.info("delivery %s deferred %.1f s: %s", delivery.id, error.retry_after or 0.0, error)


def deliver(delivery_id: str) -> DeliveryStatus | None:
    """Send one delivery and store the outcome; None when it was not ours to send."""
    if not claim(delivery_id):
        log.info("delivery %s is not waiting to be sent, skipping", delivery_id)
        return None
    # One query for everything the message needs, instead of a lazy load per attribute.
    delivery = db.session.get(
        Delivery,
        delivery_id,
        options=[
            joinedload(Delivery.alert).joinedload(Alert.location),
            joinedload(Delivery.user).selectinload(User.contact_points),
        ],
    )
    with log_context(alert_uuid=delivery.alert.alert_uuid):
        status = _send(delivery)
    log.info("delivery %s: %s", delivery_id, status.value, extra={"outcome": status.value})
    return status


def _send(delivery: Delivery) -> DeliveryStatus:
    delivery_id = delivery.id
    if delivery.deadline_at is not None and utcnow() > delivery.deadline_at:
        expire(delivery, "the alert went stale before the delivery could be made")
        return delivery.status

    sender = get_sender(delivery.channel)
    try:
        message = message_for(delivery)
    except UndeliverableError as error:
        delivery.last_error = _trim(str(error))
        log.error("delivery %s cannot be made: %s", delivery_id, error)
        _finish(delivery, DeliveryStatus.FAILED)
        return delivery.status
    try:
        sender.deliver(
            message,
            breaker=breaker_for(sender, message),
            on_attempt=lambda outcome: record_attempt(delivery, outcome),
        )
    except CircuitOpenError as error:
        _defer(delivery, error)
    except TransientSendError as error:
        _retry_later(delivery, error)
    except PermanentSendError as error:
        log.error("delivery %s failed: %s", delivery_id, error)
        _finish(delivery, DeliveryStatus.FAILED)
    else:
        _finish(delivery, DeliveryStatus.SENT)
    return delivery.status
