"""Once someone is on an alert, the others who were told see it where they were told: on the channels whose
provider lets a sent message be edited (Slack, Telegram), their message becomes "Camille is on it" (its
buttons go); on those that take a follow-up (SMS, email, Teams, webhook) a short one goes out where the shop
chose it, else nothing. Push gets nothing: a push is an alert.

Each notice is an outbound record (`claim_notice`) written in the claim's transaction and sent by the
delivery engine: retried until the alert goes stale, behind the channel's breaker, each attempt in the
ledger. An edit is a send whose message names the provider's id of the message it replaces.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from nootification.delivery import outbound
from nootification.delivery.lease import LeasedDelivery
from nootification.delivery.ledger import sent_message_ref
from nootification.delivery.messages import UndeliverableError, addressed
from nootification.delivery.outbox import QueuedJob
from nootification.extensions import db
from nootification.i18n import DEFAULT_LOCALE, translate
from nootification.i18n import mark as _
from nootification.models import (
    UNNAMED_STAFF,
    Alert,
    AttemptOutcomeKind,
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    User,
    deadline_for,
)
from nootification.senders import channels_that
from nootification.senders.base import Message, MessageSender
from nootification.services.contacts import contact_for
from nootification.services.directory import language_of
from nootification.services.templates import label_text

# In English, the message ids of their translations in the catalog.
NOTICE = _("%(holder)s is on it: %(label)s at %(shop)s.")
SUBJECT = _("On it: %(holder)s")
SOMEONE = _("Someone")


def _holder(alert: Alert, locale: str) -> str:
    if alert.claimed_by is None:
        return translate(locale, SOMEONE)
    return alert.claimed_by.name or translate(locale, UNNAMED_STAFF)


def notice_text(alert: Alert, locale: str = DEFAULT_LOCALE) -> str:
    """What the others' messages become, in `locale`."""
    return translate(
        locale,
        NOTICE,
        holder=_holder(alert, locale),
        label=label_text(alert.label, locale),
        shop=alert.location.display_name,
    )


def _told(alert: Alert, holder_id: int, channels: list[str], *conditions) -> list[Delivery]:
    return list(
        db.session.scalars(
            sa.select(Delivery).where(
                Delivery.alert_id == alert.id,
                Delivery.kind == DeliveryKind.ALERT,
                Delivery.user_id != holder_id,
                Delivery.channel.in_(channels),
                *conditions,
            )
        )
    )


def _sent_ref(delivery_id) -> sa.Exists:
    return sa.exists().where(
        DeliveryAttempt.delivery_id == delivery_id,
        DeliveryAttempt.outcome == AttemptOutcomeKind.SENT,
        DeliveryAttempt.provider_ref.is_not(None),
    )


def add_notices(alert: Alert, holder_id: int, now: datetime) -> list[QueuedJob]:
    """Write, in the claim's transaction, a notice to each other recipient: an edit of each message that can
    be edited, and a follow-up where the shop chose them; their jobs, to queue after the commit."""
    told = _told(alert, holder_id, channels_that("edits_messages"), _sent_ref(Delivery.id))
    if alert.location.claim_follow_up:
        told += _told(
            alert, holder_id, channels_that("sends_follow_ups"), Delivery.status == DeliveryStatus.SENT
        )
    deadline = deadline_for(alert.received_at, alert.severity, current_app.config)
    return [
        outbound.add(
            kind=DeliveryKind.CLAIM_NOTICE,
            channel=delivery.channel,
            alert_id=alert.id,
            user_id=delivery.user_id,
            contact_point_id=delivery.contact_point_id,
            deadline_at=deadline,
            now=now,
        )
        for delivery in told
    ]


def queue_notices(jobs: Sequence[QueuedJob]) -> None:
    """Queue the committed notices; when Redis refuses, the sweeper queues them."""
    outbound.queue(jobs)


def build_message(delivery: LeasedDelivery, sender: MessageSender) -> Message:
    """The notice as the engine sends it (its builder for `claim_notice`): an edit of the recipient's
    message where the channel edits, else a follow-up of its own id (receivers must not take it for a
    repeat)."""
    alert = db.session.get(Alert, delivery.alert_id)
    user = db.session.get(User, delivery.user_id)
    if alert is None or user is None:
        raise UndeliverableError("the alert or its recipient is gone")
    locale = language_of(user, alert.location)
    text = notice_text(alert, locale)
    contact = contact_for(user, delivery.channel, delivery.contact_point_id)
    if contact is None or not contact.enabled:
        raise UndeliverableError(f"the user has no enabled {delivery.channel} contact point")
    message = addressed(
        delivery.id,
        alert,
        user.user_uuid,
        contact,
        subject=translate(locale, SUBJECT, holder=_holder(alert, locale)),
        body=text,
        locale=locale,
    )
    if not sender.edits_messages:
        return message
    ref = sent_message_ref(alert.id, user.id, delivery.channel, delivery.contact_point_id)
    if ref is None:
        raise UndeliverableError("the message to edit was never sent, or its reference is gone")
    return replace(message, edits=ref)
