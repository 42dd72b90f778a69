"""Once someone is on an alert, the others who were told see it where they were told: on Slack and Telegram,
whose providers let a sent message be edited, their message becomes "Camille is on it" (its buttons go);
elsewhere (SMS, email, Teams, webhook) a short follow-up goes out where the shop chose it, else nothing.

Best effort, in a job queued after the claim: an edit or follow-up that fails is logged, not retried; the
staff page, its state and every button say who is on it anyway. Push gets nothing: a push is an alert.
"""

import logging

import sqlalchemy as sa
from redis.exceptions import RedisError

from nootification.delivery.messages import addressed
from nootification.extensions import db, redis_queue
from nootification.models import Alert, AttemptOutcomeKind, Delivery, DeliveryAttempt, DeliveryStatus
from nootification.senders import channels_that, get_sender
from nootification.senders.base import SendError
from nootification.services.contacts import contact_for

NOTICE_JOB = "nootification.staff.claim_notices.tell_others"

log = logging.getLogger(__name__)


def queue_notices(alert_id: int) -> None:
    """Queue the edits of the others' messages; without Redis they are skipped (logged)."""
    try:
        redis_queue.queue.enqueue(NOTICE_JOB, alert_id, result_ttl=0)
    except RedisError as error:
        log.warning("alert %s: the others' messages are not edited (Redis): %s", alert_id, error)


def notice_text(alert: Alert) -> str:
    """What the others' messages become."""
    holder = alert.claimed_by.shown_name if alert.claimed_by else "Someone"
    return f"{holder} is on it: {alert.label} at {alert.location.display_name}."


def tell_others(alert_id: int) -> int:
    """Tell the alert's other recipients who is on it (edits, and follow-ups where the shop chose them); how
    many went out."""
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.claimed_by_id is None:
        return 0
    text = notice_text(alert)
    told = _edit_messages(alert, text)
    if alert.location.claim_follow_up:
        told += _follow_up(alert, text)
    return told


def _edit_messages(alert: Alert, text: str) -> int:
    sent = db.session.execute(
        sa.select(Delivery.channel, DeliveryAttempt.provider_ref)
        .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
        .where(
            Delivery.alert_id == alert.id,
            Delivery.user_id != alert.claimed_by_id,
            Delivery.channel.in_(channels_that("edits_messages")),
            DeliveryAttempt.outcome == AttemptOutcomeKind.SENT,
            DeliveryAttempt.provider_ref.is_not(None),
        )
    ).all()
    edited = 0
    for channel, provider_ref in sent:
        try:
            get_sender(channel).edit(provider_ref, text)
        except SendError as error:
            log.warning("alert %s: a %s message was not edited: %s", alert.alert_uuid, channel, error)
            continue
        edited += 1
    return edited


def _follow_up(alert: Alert, text: str) -> int:
    deliveries = db.session.scalars(
        sa.select(Delivery).where(
            Delivery.alert_id == alert.id,
            Delivery.user_id != alert.claimed_by_id,
            Delivery.channel.in_(channels_that("sends_follow_ups")),
            Delivery.status == DeliveryStatus.SENT,
        )
    ).all()
    sent = 0
    for delivery in deliveries:
        contact = contact_for(delivery.user, delivery.channel)
        if contact is None or not contact.enabled:
            continue
        message = addressed(
            f"{delivery.id}-claimed",  # an id of its own: receivers must not take it for a repeat
            alert,
            delivery.user.user_uuid,
            contact,
            subject=f"On it: {alert.claimed_by.shown_name}",
            body=text,
        )
        try:
            get_sender(delivery.channel).send(message)
        except SendError as error:
            log.warning("alert %s: a %s follow-up failed: %s", alert.alert_uuid, delivery.channel, error)
            continue
        sent += 1
    return sent
