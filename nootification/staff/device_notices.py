"""When a new phone registers for a user's alerts, the user hears of it on their other channels, so that a
phone added from a forwarded or stolen link does not go unnoticed: "A new phone now gets your alerts".

Each notice is an outbound record (`device_notice`, no alert) written in the registration's transaction and
sent by the delivery engine, retried for a day (DEVICE_NOTICE_FRESHNESS). Only the channels a person reads
as text; the devices get alerts, not notices.
"""

from collections.abc import Sequence
from datetime import datetime

from nootification.delivery import outbound
from nootification.delivery.lease import LeasedDelivery
from nootification.delivery.messages import UndeliverableError
from nootification.delivery.outbox import QueuedJob
from nootification.extensions import db
from nootification.i18n import mark as _
from nootification.i18n import translate
from nootification.models import DEVICE_NOTICE_FRESHNESS, ContactPoint, DeliveryKind, User
from nootification.senders import sender_class
from nootification.senders.base import Message, MessageSender
from nootification.services.contacts import contact_for
from nootification.services.directory import language_of

# The notice in English, the message ids of its translations in the catalog. The French is worded with GSM-7
# letters only (no ç, no ô): one SMS segment instead of three in UCS-2.
SUBJECT = _("New phone")
BODY = _("A new phone now gets your alerts. If it is not yours, tell your manager, who can turn it off.")


def notice_for(user: User) -> tuple[str, str]:
    """The notice's (subject, body) in the user's language."""
    locale = language_of(user)
    return translate(locale, SUBJECT), translate(locale, BODY)


def add_notices(device: ContactPoint, now: datetime) -> list[QueuedJob]:
    """Write, in the registration's transaction, a notice of the new device to each of its user's other
    enabled text channels; their jobs, to queue after the commit."""
    return [
        outbound.add(
            kind=DeliveryKind.DEVICE_NOTICE,
            channel=point.channel,
            user_id=device.user_id,
            deadline_at=now + DEVICE_NOTICE_FRESHNESS,
            now=now,
        )
        for point in device.user.contact_points
        if point.id != device.id and point.enabled and sender_class(point.channel).reads_as_text
    ]


def queue_notices(jobs: Sequence[QueuedJob]) -> None:
    """Queue the committed notices; when Redis refuses, the sweeper queues them."""
    outbound.queue(jobs)


def build_message(delivery: LeasedDelivery, sender: MessageSender) -> Message:
    """The notice as the engine sends it (its builder for `device_notice`), in the user's language."""
    user = db.session.get(User, delivery.user_id) if delivery.user_id is not None else None
    contact = contact_for(user, delivery.channel) if user is not None else None
    if contact is None or not contact.enabled:
        raise UndeliverableError(f"the user has no enabled {delivery.channel} contact point")
    subject, body = notice_for(user)
    return Message(
        locale=language_of(user),
        delivery_id=delivery.id,
        user_uuid=user.user_uuid,
        address=contact.address,
        alert_uuid="",
        url="",
        location="",
        label="",
        severity="",
        time_spotted=0.0,
        subject=subject,
        body=body,
        options=contact.options or {},
    )
