"""Once someone is on an alert, the others who were told see it where they were told: on Slack and Telegram,
whose providers let a sent message be edited, their message becomes "Camille is on it" (its buttons go).

Best effort, in a job queued after the claim: an edit that fails is logged, not retried; the staff page, its
state and every button answer say who is on it anyway. Channels whose messages cannot be edited get nothing.
"""

import logging

import sqlalchemy as sa
from redis.exceptions import RedisError

from nootification.extensions import db, redis_queue
from nootification.models import Alert, AttemptOutcomeKind, Delivery, DeliveryAttempt
from nootification.senders import get_sender
from nootification.senders.base import SendError

NOTICE_JOB = "nootification.delivery.claim_notices.edit_messages"
EDITABLE = ("slack", "telegram")

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


def edit_messages(alert_id: int) -> int:
    """Edit the sent Slack and Telegram messages of the alert's deliveries but the claimer's; how many."""
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.claimed_by_id is None:
        return 0
    sent = db.session.execute(
        sa.select(Delivery.channel, DeliveryAttempt.provider_ref)
        .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
        .where(
            Delivery.alert_id == alert_id,
            Delivery.user_id != alert.claimed_by_id,
            Delivery.channel.in_(EDITABLE),
            DeliveryAttempt.outcome == AttemptOutcomeKind.SENT,
            DeliveryAttempt.provider_ref.is_not(None),
        )
    ).all()
    text, edited = notice_text(alert), 0
    for channel, provider_ref in sent:
        try:
            get_sender(channel).edit(provider_ref, text)
        except SendError as error:
            log.warning("alert %s: a %s message was not edited: %s", alert.alert_uuid, channel, error)
            continue
        edited += 1
    return edited
