"""The message of a leased delivery: its recipient's contact point on its channel (on a device channel, the
device's), its rendered template."""

import logging

from flask import current_app

from nootification.delivery.kinds import kind_of
from nootification.delivery.lease import LeasedDelivery
from nootification.i18n import DEFAULT_LOCALE, locale_for, translate
from nootification.models import DeliveryKind, utcnow
from nootification.senders.base import REPEAT_MARK, Message, MessageSender
from nootification.senders.text import cut
from nootification.senders.twilio.replies import answer_line_for
from nootification.services.contacts import Contact, contact_for
from nootification.services.staff_links import link_expiry, staff_link
from nootification.services.templates import TemplateRenderError, render_for
from nootification.services.voice_numbers import paused_until


class UndeliverableError(Exception):
    """The delivery cannot be made at all: its contact point is gone or its template fails."""


log = logging.getLogger(__name__)


def message_for(delivery: LeasedDelivery, sender: MessageSender) -> Message:
    """The message of an outbound record: an alert's delivery is rendered here, the other kinds by the
    builder their wing registered (delivery/kinds.py)."""
    if delivery.kind is DeliveryKind.ALERT:
        return alert_message(delivery, sender)
    kind = kind_of(delivery.kind)
    if kind is None:
        raise UndeliverableError(f"nothing builds the message of a {delivery.kind.value}")
    return kind.build(delivery, sender)


def alert_message(delivery: LeasedDelivery, sender: MessageSender) -> Message:
    """The rendered message of an alert's delivery, addressed to the user's contact point on its channel.

    Sent again after an attempt whose outcome is unknown, on a channel whose provider cannot drop a repeat,
    its subject says it is a repeat: a second theft alert is better than none, a confusing one is not.
    """
    alert, user = delivery.alert, delivery.user
    contact = contact_for(user, delivery.channel, delivery.contact_point_id)
    if contact is None or not contact.enabled:
        raise UndeliverableError(f"the user has no enabled {delivery.channel} contact point")
    if sender.rings and contact.address and (until := paused_until(contact.address, utcnow())):
        raise UndeliverableError(
            f"the number is paused until {until:%Y-%m-%d %H:%M} UTC: its calls kept failing"
        )
    locale = locale_for(user.locale, alert.location.locale)
    try:
        rendered = render_for(alert, user, delivery.channel)
    except TemplateRenderError as error:
        raise UndeliverableError(str(error)) from error
    repeat = delivery.after_unknown and not sender.deduplicates
    subject = translate(locale, REPEAT_MARK) + rendered.subject if repeat else rendered.subject
    return addressed(
        delivery.id,
        alert,
        user.user_uuid,
        contact,
        subject=_fitted(subject, sender.max_subject, "subject", delivery),
        body=_fitted(rendered.body, sender.max_body, "body", delivery),
        action_url=staff_link(
            alert.alert_uuid,
            user.user_uuid,
            link_expiry(alert.received_at, alert.severity, current_app.config),
            current_app.config,
        ),
        expires_at=delivery.deadline_at.timestamp() if delivery.deadline_at else None,
        answer_line=answer_line_for(locale),
        locale=locale,
        repeat=repeat,
    )


def addressed(
    message_id: str,
    alert,
    user_uuid: str,
    contact: Contact,
    *,
    subject: str,
    body: str,
    action_url: str | None = None,
    expires_at: float | None = None,
    answer_line: str = "",
    locale: str = DEFAULT_LOCALE,
    repeat: bool = False,
) -> Message:
    """A message about an alert (stored, or as a leased delivery sees it) to one user's contact point."""
    return Message(
        delivery_id=message_id,
        user_uuid=user_uuid,
        address=contact.address,
        alert_uuid=alert.alert_uuid,
        url=alert.url,
        location=alert.location.name,
        location_name=alert.location.display_name,
        label=alert.label,
        severity=alert.severity.value,
        time_spotted=alert.time_spotted.timestamp(),
        subject=subject,
        body=body,
        options=contact.options,
        action_url=action_url,
        expires_at=expires_at,
        answer_line=answer_line,
        repeat=repeat,
        locale=locale,
    )


def _fitted(text: str, limit: int, part: str, delivery: LeasedDelivery) -> str:
    if len(text) <= limit:
        return text
    log.warning(
        "delivery %s: the rendered %s (%d characters) is cut to %s's limit of %d",
        delivery.id,
        part,
        len(text),
        delivery.channel,
        limit,
    )
    return cut(text, limit)
