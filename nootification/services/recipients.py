"""Who should hear about an alert, and on which channels."""

from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import (
    Alert,
    ContactPoint,
    EscalationTier,
    Level,
    Location,
    OffHoursMember,
    Severity,
    Shift,
    User,
    UTCDateTime,
    user_locations,
)
from nootification.services.contacts import PointView, contacts_of
from nootification.services.routing import routed_channels


def wants_alert(level: Level, severity: Severity) -> bool:
    """The preference rule: STANDARD users get every alert, CRITICAL users only critical ones."""
    return level is Level.STANDARD or severity is Severity.CRITICAL


@dataclass(frozen=True)
class Recipient:
    """One user (by id) to notify on one channel; on a device channel, on one device (its contact point)."""

    user_id: int
    channel: str
    contact_point_id: int = 0


@dataclass(frozen=True)
class Staff:
    """A member of staff as routing sees them: their level, push address and stored contact points."""

    id: int
    level: Level
    push_address: str | None
    contact_points: tuple[PointView, ...]


def _staff_query(membership: sa.Table, *conditions) -> sa.Select:
    """The users found through `membership` (joined on its user_id) with their contact points: one query."""
    users, points = User.__table__, ContactPoint.__table__
    return (
        sa.select(
            users.c.id,
            users.c.level,
            users.c.push_address,
            points.c.id.label("point_id"),
            points.c.channel,
            points.c.address,
            points.c.level.label("point_level"),
            points.c.enabled,
            points.c.options,
        )
        .join(membership, membership.c.user_id == users.c.id)
        .outerjoin(points, points.c.user_id == users.c.id)
        # Erasure takes a user out of every shop and tier; this keeps an erased user unreachable even if an
        # admin attaches them again.
        .where(users.c.erased_at.is_(None), *conditions)
        .order_by(users.c.id, points.c.id)
    )


# Hot paths' statements, built once (see delivery/lease.py): every alert runs one.
_TIERS = EscalationTier.__table__
LOCATION_STAFF = _staff_query(user_locations, user_locations.c.location_id == sa.bindparam("location_id"))
TIER_STAFF = _staff_query(
    _TIERS, _TIERS.c.location_id == sa.bindparam("location_id"), _TIERS.c.tier == sa.bindparam("tier")
)
_OFF_HOURS = OffHoursMember.__table__
OFF_HOURS_STAFF = _staff_query(_OFF_HOURS, _OFF_HOURS.c.location_id == sa.bindparam("location_id"))

_SHIFTS = Shift.__table__
_AT = sa.bindparam("at", type_=UTCDateTime())
# The people of a shop on shift at a time, once each however many of their shifts cover it, and only while
# still attached to the shop: detaching someone takes them off its roster too.
_ON_SHIFT = (
    sa.select(_SHIFTS.c.user_id)
    .join(
        user_locations,
        (user_locations.c.user_id == _SHIFTS.c.user_id)
        & (user_locations.c.location_id == _SHIFTS.c.location_id),
    )
    .where(
        _SHIFTS.c.location_id == sa.bindparam("location_id"),
        _SHIFTS.c.starts_at <= _AT,
        _SHIFTS.c.ends_at > _AT,
    )
    .distinct()
    .subquery("on_shift")
)
ON_SHIFT_STAFF = _staff_query(_ON_SHIFT)


def _staff(query: sa.Select, parameters: dict) -> list[Staff]:
    """The people `query` finds, each with their contact points, no ORM objects."""
    staff: list[Staff] = []
    for row in db.session.execute(query, parameters):
        if not staff or staff[-1].id != row.id:
            staff.append(Staff(row.id, row.level, row.push_address, ()))
        if row.channel is not None:
            point = PointView(
                row.channel, row.address, row.point_level, row.enabled, row.options or {}, row.point_id
            )
            staff[-1] = replace(staff[-1], contact_points=(*staff[-1].contact_points, point))
    return staff


def staff_of(location_id: int) -> list[Staff]:
    """The users attached to a location (its first tier) with their contact points, no ORM objects."""
    return _staff(LOCATION_STAFF, {"location_id": location_id})


def tier_staff(location_id: int, tier: int) -> list[Staff]:
    """The people of one of a location's escalation tiers (2 and up) with their contact points."""
    return _staff(TIER_STAFF, {"location_id": location_id, "tier": tier})


def off_hours_staff(location_id: int) -> list[Staff]:
    """The people of a location's off-hours tier (told while it is closed) with their contact points."""
    return _staff(OFF_HOURS_STAFF, {"location_id": location_id})


def on_shift_staff(location_id: int, at: datetime) -> list[Staff]:
    """The people of a shop's roster on shift at `at` (a shift's start included, its end not) with their
    contact points: with a roster, a shop's own staff an alert reaches."""
    return _staff(ON_SHIFT_STAFF, {"location_id": location_id, "at": at})


def has_roster(location: Location) -> bool:
    """Whether the shop has a roster (even an empty one): then only the people on shift hear of its alerts."""
    return location.roster_updated_at is not None


def recipients_among(
    alert: Alert, staff: list[Staff], channels: frozenset[str] | None = None
) -> list[Recipient]:
    """Each (user, channel, device) of these people the alert goes to: a routed channel (or one of
    `channels`, which replace the routing rules: a shop's ladder), an enabled contact, a level wanting it."""
    allowed = routed_channels(alert) if channels is None else channels
    return [
        Recipient(user.id, contact.channel, contact.point_id)
        for user in staff
        for contact in contacts_of(user)
        if contact.enabled
        and wants_alert(contact.level, alert.severity)
        and (allowed is None or contact.channel in allowed)
    ]
