"""Carrying out one delivery: claim it, send it through its channel, record how it went."""

import logging

import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Delivery, DeliveryStatus, utcnow
from nootification.senders import get_sender
from nootification.senders.base import AttemptOutcome, Message, SendError

log = logging.getLogger(__name__)

CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED)
MAX_ERROR_LENGTH = 500


def claim(delivery_id: str) -> bool:
    """Move a pending or queued delivery to sending; False when another run already took it."""
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(CLAIMABLE))
        .values(status=DeliveryStatus.SENDING, updated_at=utcnow())
    )
    db.session.commit()
    return result.rowcount == 1


def message_for(delivery: Delivery) -> Message:
    """The channel-neutral message of a delivery."""
    alert = delivery.alert
    return Message(
        delivery_id=delivery.id,
        user_uuid=delivery.user.user_uuid,
        address=delivery.user.push_address,
        alert_uuid=alert.alert_uuid,
        url=alert.url,
        location=alert.location.name,
        label=alert.label,
        severity=alert.severity.value,
        time_spotted=alert.time_spotted.timestamp(),
    )


def _record_attempt(delivery: Delivery, outcome: AttemptOutcome) -> None:
    delivery.attempts += 1
    if outcome.error is not None:
        delivery.last_error = str(outcome.error)[:MAX_ERROR_LENGTH]
    db.session.commit()


def deliver(delivery_id: str) -> DeliveryStatus | None:
    """Send one delivery with retries and store the outcome; None when it was not ours to send."""
    if not claim(delivery_id):
        log.info("delivery %s is not pending or queued, skipping", delivery_id)
        return None
    delivery = db.session.get(Delivery, delivery_id)
    sender = get_sender(delivery.channel)
    try:
        sender.deliver(message_for(delivery), on_attempt=lambda outcome: _record_attempt(delivery, outcome))
    except SendError as error:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = str(error)[:MAX_ERROR_LENGTH]
        log.error("delivery %s failed after %d attempts: %s", delivery_id, delivery.attempts, error)
    else:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = utcnow()
    db.session.commit()
    return delivery.status
