"""Contact points: on which channels, at which address and level each user wants to hear."""

import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from nootification.errors import InvalidInput, NotFound
from nootification.extensions import db
from nootification.models import ContactPoint, Delivery, Level, User
from nootification.observability import metrics
from nootification.senders import sender_class
from nootification.services.audit import contact_point_state, record
from nootification.services.directory import get_user, live_user
from nootification.ssrf import is_url, non_public_reason

PUSH = "push"
# The channels whose address a phone registers for itself: a device token or a push subscription.
DEVICE_CHANNELS = ("fcm", "webpush")

log = logging.getLogger(__name__)

_POINTS = ContactPoint.__table__
# A hot path's statement, built once (see delivery/claim.py): every batch a worker claims runs it.
POINTS_OF_USERS = (
    sa.select(
        _POINTS.c.user_id,
        _POINTS.c.channel,
        _POINTS.c.address,
        _POINTS.c.level,
        _POINTS.c.enabled,
        _POINTS.c.options,
    )
    .where(_POINTS.c.user_id.in_(sa.bindparam("user_ids", expanding=True)))
    .order_by(_POINTS.c.id)
)


@dataclass(frozen=True)
class Contact:
    """A contact point as deliveries use it: the channel, address, options and effective level."""

    channel: str
    address: str | None
    level: Level
    enabled: bool = True
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PointView:
    """A stored contact point as plain data: what routing and sending read of it, no ORM object."""

    channel: str
    address: str | None
    level: Level | None
    enabled: bool
    options: dict


def contact_points_of(session: Session, user_ids: Collection[int]) -> dict[int, tuple[PointView, ...]]:
    """The stored contact points of these users, by user id, in one query."""
    if not user_ids:
        return {}
    rows = session.execute(POINTS_OF_USERS, {"user_ids": list(user_ids)})
    points: dict[int, list[PointView]] = defaultdict(list)
    for row in rows:
        points[row.user_id].append(
            PointView(row.channel, row.address, row.level, row.enabled, row.options or {})
        )
    return {user_id: tuple(found) for user_id, found in points.items()}


@dataclass(frozen=True)
class GoneContact:
    """A contact point a provider said no longer exists, as seen from the delivery that learnt it."""

    delivery_id: str
    channel: str
    address: str
    reason: str


def disable_gone(session: Session, gone: Collection[GoneContact], *, now: datetime) -> None:
    """Turn off the contact points the deliveries went to, with the reason; not committed.

    Only while the point still has the address that is gone: a phone that subscribed again meanwhile
    keeps its new subscription.
    """
    if not gone:
        return
    points, deliveries = ContactPoint.__table__, Delivery.__table__
    recipient = sa.select(deliveries.c.user_id).where(deliveries.c.id == sa.bindparam("g_delivery"))
    session.execute(
        sa.update(points)
        .where(
            points.c.user_id == recipient.scalar_subquery(),
            points.c.channel == sa.bindparam("g_channel"),
            points.c.address == sa.bindparam("g_address"),
        )
        .values(enabled=False, disabled_reason=sa.bindparam("g_reason"), disabled_at=now),
        [
            dict(g_delivery=c.delivery_id, g_channel=c.channel, g_address=c.address, g_reason=c.reason)
            for c in gone
        ],
    )
    for contact in gone:
        log.warning(
            "delivery %s: the %s contact point is turned off: %s",
            contact.delivery_id,
            contact.channel,
            contact.reason,
        )
        metrics.record_contact_point_gone(contact.channel)


def contacts_of(user: User) -> list[Contact]:
    """The user's contact points by channel name; push, on the user's push address and level, unless set."""
    contacts = [
        Contact(point.channel, point.address, point.level or user.level, point.enabled, point.options or {})
        for point in user.contact_points
    ]
    if not any(contact.channel == PUSH for contact in contacts):
        contacts.append(Contact(PUSH, user.push_address, user.level))
    return sorted(contacts, key=lambda contact: contact.channel)


def contact_for(user: User, channel: str) -> Contact | None:
    """The user's contact on one channel, if any."""
    return next((contact for contact in contacts_of(user) if contact.channel == channel), None)


def _validated(channel: str, address: str | None, options: dict) -> dict:
    try:
        schema = sender_class(channel).config_schema()
    except KeyError:
        raise InvalidInput("Unknown channel.", field="channel") from None
    allow_private = current_app.config["ALLOW_PRIVATE_WEBHOOK_TARGETS"]
    # Where private targets are allowed (a local run against the stub), plain http is too.
    plain_http = allow_private and is_url(address) and address.startswith("http://")
    checked = "https://" + address.removeprefix("http://") if plain_http else address
    try:
        valid = schema.load({"address": checked, **options})
    except ValidationError as error:
        raise InvalidInput(
            "The contact point is not valid for this channel.", errors=error.messages
        ) from None
    if plain_http:
        valid["address"] = address
    if is_url(valid.get("address")) and not allow_private:
        reason = non_public_reason(valid["address"])
        if reason:
            raise InvalidInput(f"Refused: {reason}.", field="address")
    return valid


def set_contact_point(
    user_uuid: str,
    channel: str,
    *,
    address: str | None = None,
    options: dict | None = None,
    enabled: bool = True,
    level: Level | None = None,
) -> ContactPoint:
    """Create or replace a user's contact point on a channel, validated by the channel's config schema (409
    once the user is erased)."""
    user = live_user(user_uuid)
    valid = _validated(channel, address, options or {})
    point = next((p for p in user.contact_points if p.channel == channel), None) or ContactPoint(
        channel=channel
    )
    before = contact_point_state(point) if point in user.contact_points else None
    point.address = valid.pop("address", None)
    point.options = valid
    point.enabled = enabled
    point.level = level
    point.disabled_reason = point.disabled_at = None
    if point not in user.contact_points:
        user.contact_points.append(point)
    after = contact_point_state(point)
    record("contact_point.set", target_type="user", target_id=user_uuid, before=before, after=after)
    db.session.commit()
    return point


def set_channel_levels(user: User, levels: list[dict]) -> None:
    """Apply `[{channel, level?, enabled?}]` to the user's contact points; push is created when implied.

    Every channel is checked before anything changes, so a refused request changes nothing.
    """
    points = {point.channel: point for point in user.contact_points}
    missing = sorted({entry["channel"] for entry in levels} - set(points) - {PUSH})
    if missing:
        raise InvalidInput(f"The user has no contact point on: {', '.join(missing)}.", field="channels")
    for entry in levels:
        point = points.get(entry["channel"])
        if point is None:
            point = points[PUSH] = ContactPoint(channel=PUSH, address=user.push_address, options={})
            user.contact_points.append(point)
        if "level" in entry:
            point.level = entry["level"]
        if "enabled" in entry:
            point.enabled = entry["enabled"]


def _device_channel(channel: str) -> str:
    if channel not in DEVICE_CHANNELS:
        raise InvalidInput(f"Not a device channel: one of {', '.join(DEVICE_CHANNELS)}.", field="channel")
    return channel


def register_device(user_uuid: str, channel: str, *, address: str, options: dict) -> ContactPoint:
    """A phone's own push contact point (FCM or Web Push), set by the phone with its user's token."""
    return set_contact_point(user_uuid, _device_channel(channel), address=address, options=options)


def forget_device(user_uuid: str, channel: str) -> None:
    """Remove a phone's push contact point."""
    delete_contact_point(user_uuid, _device_channel(channel))


def delete_contact_point(user_uuid: str, channel: str) -> None:
    """Remove a user's contact point on a channel."""
    user = get_user(user_uuid)
    point = next((p for p in user.contact_points if p.channel == channel), None)
    if point is None:
        raise NotFound("The user has no contact point on this channel.")
    before = contact_point_state(point)
    record("contact_point.delete", target_type="user", target_id=user_uuid, before=before, after=None)
    user.contact_points.remove(point)
    db.session.commit()
