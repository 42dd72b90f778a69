"""Contact points: on which channels, at which address and level each user wants to hear."""

import logging
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nootification.errors import InvalidInput, NotFound
from nootification.extensions import db
from nootification.models import ContactPoint, Delivery, Level, User
from nootification.observability import metrics
from nootification.senders import sender_class
from nootification.services.audit import contact_point_state, record
from nootification.services.directory import get_user, live_user
from nootification.services.push_services import at_known_push_service
from nootification.ssrf import is_url, non_public_reason

PUSH = "push"
WEB_PUSH = "webpush"
# The channels whose address a phone registers for itself: a device token or a push subscription.
DEVICE_CHANNELS = ("fcm", "webpush")

log = logging.getLogger(__name__)

_POINTS = ContactPoint.__table__
# A hot path's statement, built once (see delivery/lease.py): every batch a worker claims runs it.
POINTS_OF_USERS = (
    sa.select(
        _POINTS.c.id,
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


def delivery_point_id(channel: str, point_id: int | None) -> int:
    """The contact point a delivery on `channel` names: the device's on a device channel, else 0 (a user has
    one point on each other channel)."""
    return (point_id or 0) if channel in DEVICE_CHANNELS else 0


@dataclass(frozen=True)
class Contact:
    """A contact point as deliveries use it: the channel, address, options and effective level.

    `point_id` is what a delivery to it names (see `delivery_point_id`): the device's point, or 0.
    """

    channel: str
    address: str | None
    level: Level
    enabled: bool = True
    options: dict = field(default_factory=dict)
    point_id: int = 0


@dataclass(frozen=True)
class PointView:
    """A stored contact point as plain data: what routing and sending read of it, no ORM object."""

    channel: str
    address: str | None
    level: Level | None
    enabled: bool
    options: dict
    id: int | None = None


def contact_points_of(session: Session, user_ids: Collection[int]) -> dict[int, tuple[PointView, ...]]:
    """The stored contact points of these users, by user id, in one query."""
    if not user_ids:
        return {}
    rows = session.execute(POINTS_OF_USERS, {"user_ids": list(user_ids)})
    points: dict[int, list[PointView]] = defaultdict(list)
    for row in rows:
        points[row.user_id].append(
            PointView(row.channel, row.address, row.level, row.enabled, row.options or {}, row.id)
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
    """Turn off the contact points (the devices) the deliveries went to, with the reason; not committed.

    Only the device's own point, and only while it still has the address that is gone: the user's other
    phones, and a phone that subscribed again meanwhile, keep theirs.
    """
    if not gone:
        return
    points, deliveries = ContactPoint.__table__, Delivery.__table__
    device = sa.select(deliveries.c.contact_point_id).where(deliveries.c.id == sa.bindparam("g_delivery"))
    session.execute(
        sa.update(points)
        .where(
            points.c.id == device.scalar_subquery(),
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
        Contact(
            point.channel,
            point.address,
            point.level or user.level,
            point.enabled,
            point.options or {},
            delivery_point_id(point.channel, point.id),
        )
        for point in user.contact_points
    ]
    if not any(contact.channel == PUSH for contact in contacts):
        contacts.append(Contact(PUSH, user.push_address, user.level))
    return sorted(contacts, key=lambda contact: contact.channel)


def contact_for(user: User, channel: str, point_id: int = 0) -> Contact | None:
    """The user's contact on one channel (on a device channel, the device's point `point_id`), if any."""
    return next(
        (c for c in contacts_of(user) if c.channel == channel and c.point_id == point_id),
        None,
    )


def _validated(channel: str, address: str | None, options: dict) -> dict:
    try:
        channel_class = sender_class(channel)
    except KeyError:
        raise InvalidInput("Unknown channel.", field="channel") from None
    if not channel_class.reaches_staff:
        raise InvalidInput("Unknown channel.", field="channel")
    schema = channel_class.config_schema()
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
    if channel == WEB_PUSH and not at_known_push_service(
        valid["address"], current_app.config["WEB_PUSH_SERVICE_HOSTS"]
    ):
        raise InvalidInput(
            "Refused: the endpoint is not at a known push service (WEB_PUSH_SERVICE_HOSTS).", field="address"
        )
    if is_url(valid.get("address")) and not allow_private:
        reason = non_public_reason(valid["address"])
        if reason:
            raise InvalidInput(f"Refused: {reason}.", field="address")
    return valid


def _point_on(user: User, channel: str, address: str | None) -> ContactPoint | None:
    """The user's point on a channel; on a device channel, the one of the device at `address`."""
    device = channel in DEVICE_CHANNELS
    return next(
        (p for p in user.contact_points if p.channel == channel and (not device or p.address == address)),
        None,
    )


def set_contact_point(
    user_uuid: str,
    channel: str,
    *,
    address: str | None = None,
    options: dict | None = None,
    enabled: bool = True,
    level: Level | None = None,
) -> ContactPoint:
    """Create or replace a user's contact point on a channel (on a device channel, the point of the device at
    `address`), validated by the channel's config schema (409 once the user is erased)."""
    user = live_user(user_uuid)
    valid = _validated(channel, address, options or {})
    address = valid.pop("address", None)
    point = _point_on(user, channel, address) or ContactPoint(channel=channel)
    before = contact_point_state(point) if point in user.contact_points else None
    point.address = address
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
    points: dict[str, list[ContactPoint]] = defaultdict(list)
    for point in user.contact_points:
        points[point.channel].append(point)
    missing = sorted({entry["channel"] for entry in levels} - set(points) - {PUSH})
    if missing:
        raise InvalidInput(f"The user has no contact point on: {', '.join(missing)}.", field="channels")
    for entry in levels:
        if not points.get(entry["channel"]):
            point = ContactPoint(channel=PUSH, address=user.push_address, options={})
            points[PUSH] = [point]
            user.contact_points.append(point)
        for point in points[entry["channel"]]:  # every device of a device channel
            if "level" in entry:
                point.level = entry["level"]
            if "enabled" in entry:
                point.enabled = entry["enabled"]


def _device_channel(channel: str) -> str:
    if channel not in DEVICE_CHANNELS:
        raise InvalidInput(f"Not a device channel: one of {', '.join(DEVICE_CHANNELS)}.", field="channel")
    return channel


@dataclass(frozen=True)
class Registered:
    """A device's contact point after its registration, and whether the device is new to its user."""

    point: ContactPoint
    new: bool


def register_device(
    user_uuid: str,
    channel: str,
    *,
    address: str,
    options: dict,
    turn_on: bool,
    on_new: Callable[[ContactPoint], None] | None = None,
) -> Registered:
    """A phone's own push contact point (an FCM token or a Web Push subscription): a new device gets a point
    of its own; a known one gets its new keys and keeps its level, and is turned back on only if `turn_on`
    (its user's own token may, a staff link may not); 409 once the user is erased. `on_new` is called with a
    new device's point in the registration's transaction (the staff wing writes its notices there)."""
    user = live_user(user_uuid)
    valid = _validated(_device_channel(channel), address, options)
    address = valid.pop("address")
    point = _point_on(user, channel, address)
    new = point is None
    before = None if new else contact_point_state(point)
    if point is None:
        point = ContactPoint(channel=channel, address=address, enabled=True)
        user.contact_points.append(point)
    point.options = valid
    if turn_on and not point.enabled:
        point.enabled = True
        point.disabled_reason = point.disabled_at = None
    after = contact_point_state(point)
    record("contact_point.set", target_type="user", target_id=user_uuid, before=before, after=after)
    try:
        if new and on_new is not None:
            db.session.flush()
            on_new(point)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if not new:
            raise
        # The same device registered by another request meanwhile: it is known now, and updated as such.
        return register_device(user_uuid, channel, address=address, options=options, turn_on=turn_on)
    return Registered(point, new)


def forget_device(user_uuid: str, channel: str, address: str | None = None) -> None:
    """Remove a phone's push contact point (every one on the channel unless `address` names the device)."""
    delete_contact_point(user_uuid, _device_channel(channel), address)


def delete_contact_point(user_uuid: str, channel: str, address: str | None = None) -> None:
    """Remove a user's contact point on a channel (on a device channel, only the device at `address` if
    given, else every device)."""
    user = get_user(user_uuid)
    points = [
        p
        for p in user.contact_points
        if p.channel == channel
        and (address is None or channel not in DEVICE_CHANNELS or p.address == address)
    ]
    if not points:
        raise NotFound("The user has no contact point on this channel.")
    for point in points:
        record(
            "contact_point.delete",
            target_type="user",
            target_id=user_uuid,
            before=contact_point_state(point),
            after=None,
        )
        user.contact_points.remove(point)
    db.session.commit()
