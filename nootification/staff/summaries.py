"""A group's summary, as the person reads it: "9 autres alertes vol à Auchan La Rochelle" at a burst's end, "3
alertes à Auchan La Rochelle pendant la fermeture" at a closed shop's opening.

It counts, when it is sent, the group's alerts nobody is on yet that did not ring this person on this
channel, so an alert that joined late is counted too, and a summary of alerts all taken care of is cancelled
unsent (claiming one alert of a burst claims the burst). Where the channel edits its messages (Slack,
Telegram) and the person got the first alert there, the summary is an edit of that message, which keeps its
buttons; elsewhere, a message of its own. Its link and its "I'm on it" are the first alert's.
"""

from dataclasses import replace

import sqlalchemy as sa
from flask import current_app

from nootification.delivery.ladder import NotNeededError
from nootification.delivery.lease import LeasedDelivery
from nootification.delivery.ledger import sent_message_ref
from nootification.delivery.messages import UndeliverableError, addressed
from nootification.extensions import db
from nootification.i18n import mark as _
from nootification.i18n import translate
from nootification.models import (
    Alert,
    Delivery,
    DeliveryKind,
    GroupReason,
    User,
)
from nootification.senders.base import Message, MessageSender
from nootification.services.contacts import contact_for
from nootification.services.directory import language_of
from nootification.services.staff_links import link_expiry, staff_link
from nootification.services.templates import label_text, render_for

ALERTS = Alert.__table__
DELIVERIES = Delivery.__table__
# In English, the message ids of their translations in the catalog: one text for one alert, one for several.
ONE_MORE = _("1 more %(label)s alert at %(shop)s")
MORE = _("%(count)s more %(label)s alerts at %(shop)s")
ONE_HELD = _("1 %(label)s alert at %(shop)s")
HELD = _("%(count)s %(label)s alerts at %(shop)s")
ONE_WHILE_CLOSED = _("1 alert at %(shop)s while it was closed")
WHILE_CLOSED = _("%(count)s alerts at %(shop)s while it was closed")


def _rang(user_id: int, channel: str) -> sa.Exists:
    return sa.exists().where(
        DELIVERIES.c.alert_id == ALERTS.c.id,
        DELIVERIES.c.kind == DeliveryKind.ALERT,
        DELIVERIES.c.user_id == user_id,
        DELIVERIES.c.channel == channel,
    )


def untold_count(group_id: int, user_id: int, channel: str) -> int:
    """How many of the group's alerts nobody is on yet did not ring this person on this channel."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ALERTS)
        .where(
            ALERTS.c.group_id == group_id,
            ALERTS.c.claimed_by_id.is_(None),
            ALERTS.c.outcome.is_(None),
            ~_rang(user_id, channel),
        )
    )


def summary_text(first: Alert, count: int, got_first: bool, locale: str) -> str:
    """The summary's sentence in `locale`: the alerts of a group this person was not rung for."""
    shop = first.location.display_name
    if first.group.reason is GroupReason.CLOSED:
        return translate(locale, ONE_WHILE_CLOSED if count == 1 else WHILE_CLOSED, count=count, shop=shop)
    label = label_text(first.label, locale)
    if got_first:
        return translate(locale, ONE_MORE if count == 1 else MORE, count=count, label=label, shop=shop)
    return translate(locale, ONE_HELD if count == 1 else HELD, count=count, label=label, shop=shop)


def build_message(delivery: LeasedDelivery, sender: MessageSender) -> Message:
    """The summary as the engine sends it (its builder for `summary`)."""
    first = db.session.get(Alert, delivery.alert_id)
    user = db.session.get(User, delivery.user_id)
    if first is None or user is None or first.group is None:
        raise UndeliverableError("the group or its recipient is gone")
    contact = contact_for(user, delivery.channel, delivery.contact_point_id)
    if contact is None or not contact.enabled:
        raise UndeliverableError(f"the user has no enabled {delivery.channel} contact point")
    count = untold_count(first.group.id, user.id, delivery.channel)
    if count == 0:
        raise NotNeededError("not needed: someone is on every alert it would tell of")
    ref = sent_message_ref(first.id, user.id, delivery.channel, delivery.contact_point_id)
    locale = language_of(user, first.location)
    text = summary_text(first, count, got_first=count < _group_size(first.group_id), locale=locale)
    config = current_app.config
    message = addressed(
        delivery.id,
        first,
        user.user_uuid,
        contact,
        subject=text,
        body=text,
        action_url=staff_link(
            first.alert_uuid, user.user_uuid, link_expiry(first.received_at, first.severity, config), config
        ),
        locale=locale,
    )
    if not (sender.edits_messages and ref):
        return message
    return replace(message, edits=ref, body=f"{render_for(first, user, delivery.channel).body}\n{text}")


def _group_size(group_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(ALERTS).where(ALERTS.c.group_id == group_id)
    )
