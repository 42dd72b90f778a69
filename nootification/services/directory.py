"""Shops and their staff: the admin side of who works where."""

import unicodedata

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from nootification.errors import Conflict, InvalidInput, NotFound
from nootification.extensions import db
from nootification.i18n import is_shipped, locale_for, shipped_languages
from nootification.models import Alert, EscalationTier, Level, Location, OffHoursMember, User, new_id
from nootification.senders import channels_that
from nootification.services.audit import location_state, record, user_state
from nootification.services.opening_hours import checked_closures, checked_opening_hours


def list_locations() -> list[Location]:
    """Every shop, by name."""
    return list(db.session.scalars(sa.select(Location).order_by(Location.name)))


def get_location(name: str) -> Location:
    """The shop with this name."""
    location = db.session.scalar(sa.select(Location).where(Location.name == name))
    if location is None:
        raise NotFound("No location with this name.")
    return location


def is_manager(user: User, location_name: str) -> bool:
    """Whether the person is one of the shop's managers: in one of its escalation tiers (tier 2 and up)."""
    return (
        db.session.scalar(
            sa.select(EscalationTier.user_id)
            .join(Location, Location.id == EscalationTier.location_id)
            .where(EscalationTier.user_id == user.id, Location.name == location_name)
            .limit(1)
        )
        is not None
    )


def create_location(
    *,
    name: str,
    display_name: str | None = None,
    timezone: str = "UTC",
    escalate_after: float = 60.0,
    escalation: list[list[str]] | None = None,
    ladder: list[dict] | None = None,
    claim_follow_up: bool = False,
    locale: str = "en",
    group_window_seconds: int | None = None,
    opening_hours: dict | None = None,
    closures: list[str] | None = None,
    off_hours_tier: list[str] | None = None,
) -> Location:
    """Add a shop; its name must be new, and not differ from another's only in letter case or Unicode form."""
    twin = next((other for other in list_locations() if _folded(other.name) == _folded(name)), None)
    if twin is not None and twin.name != name:
        raise Conflict(
            f"A location named {twin.name!r} exists: names differing only in letter case or Unicode "
            "form would be two shops easily taken for one.",
            field="name",
        )
    location = Location(
        name=name,
        display_name=display_name or name,
        timezone=timezone,
        escalate_after=escalate_after,
        ladder=checked_ladder(ladder),
        claim_follow_up=claim_follow_up,
        locale=checked_locale(locale),
        group_window_seconds=group_window_seconds,
        opening_hours=checked_opening_hours(opening_hours),
        closures=checked_closures(closures or []),
    )
    location.escalation_tiers = _tiers(escalation or [])
    location.off_hours_members = _off_hours_members(off_hours_tier or [])
    db.session.add(location)
    record(
        "location.create", target_type="location", target_id=name, before=None, after=location_state(location)
    )
    _commit_or_conflict("A location with this name already exists.", field="name")
    return location


def checked_ladder(steps: list[dict] | None) -> list[dict] | None:
    """A ladder as stored (None for none); 422 unless its first step is at 0 s, each later one later, each
    channel one staff are reached on and in one step only, and every step before a critical alert goes
    stale."""
    if not steps:
        return None
    if steps[0]["after_seconds"] != 0:
        raise InvalidInput("The first step must be at 0 seconds.", field="ladder")
    waits = [step["after_seconds"] for step in steps]
    if any(later <= earlier for earlier, later in zip(waits, waits[1:], strict=False)):
        raise InvalidInput("Each step must come later than the one before.", field="ladder")
    channels = [channel for step in steps for channel in step["channels"]]
    repeated = sorted({channel for channel in channels if channels.count(channel) > 1})
    if repeated:
        raise InvalidInput(f"A channel may be in one step only: {', '.join(repeated)}.", field="ladder")
    unknown = sorted(set(channels) - set(channels_that("reaches_staff")))
    if unknown:
        raise InvalidInput(f"Unknown channels: {', '.join(unknown)}.", field="ladder")
    stale = current_app.config["FRESHNESS_CRITICAL"]
    if steps[-1]["after_seconds"] >= stale:
        raise InvalidInput(
            f"A step at {steps[-1]['after_seconds']:g} s would come after a critical alert went stale "
            f"(FRESHNESS_CRITICAL, {stale:g} s): it would never go out.",
            field="ladder",
        )
    return [{"after_seconds": step["after_seconds"], "channels": list(step["channels"])} for step in steps]


def checked_locale(tag: str) -> str:
    """A shop's locale as stored; 422 unless it is a BCP 47 tag (`fr-FR`, `en`) whose language has texts."""
    if not is_shipped(tag):
        raise InvalidInput(
            f"Not a locale whose language we have texts in ({', '.join(shipped_languages())}), e.g. fr-FR.",
            field="locale",
        )
    return tag


def _folded(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def _tiers(escalation: list[list[str]]) -> list[EscalationTier]:
    """The rows of the tiers after the shop's own staff (tier 2 first); 422 on an unknown or repeated user."""
    members, seen = [], set()
    for tier, user_uuids in enumerate(escalation, start=2):
        for position, user_uuid in enumerate(map(str, user_uuids)):
            if user_uuid in seen:
                raise InvalidInput(f"User {user_uuid} is in more than one tier.", field="escalation")
            seen.add(user_uuid)
            user = db.session.scalar(sa.select(User).where(User.user_uuid == user_uuid))
            if user is None:
                raise InvalidInput(f"No user {user_uuid}.", field="escalation")
            members.append(EscalationTier(user=user, tier=tier, position=position))
    return members


def _off_hours_members(user_uuids: list[str]) -> list[OffHoursMember]:
    """The rows of a shop's off-hours tier, in the order given; 422 on an unknown or repeated user."""
    members, named = [], [str(user_uuid) for user_uuid in user_uuids]
    for position, user_uuid in enumerate(named):
        if user_uuid in named[:position]:
            raise InvalidInput(f"User {user_uuid} is named twice.", field="off_hours_tier")
        user = db.session.scalar(sa.select(User).where(User.user_uuid == user_uuid))
        if user is None:
            raise InvalidInput(f"No user {user_uuid}.", field="off_hours_tier")
        members.append(OffHoursMember(user=user, position=position))
    return members


def update_location(name: str, **changes) -> Location:
    """Change a shop's name shown, timezone, locale, escalation delay, escalation tiers, ladder, grouping
    window, opening hours, closures or off-hours tier (lists and hours replaced whole)."""
    location = get_location(name)
    before = location_state(location)
    if "opening_hours" in changes:
        changes["opening_hours"] = checked_opening_hours(changes["opening_hours"])
    if "closures" in changes:
        changes["closures"] = checked_closures(changes["closures"])
    if "off_hours_tier" in changes:
        members = _off_hours_members(changes.pop("off_hours_tier"))
        location.off_hours_members = []
        db.session.flush()  # the old rows go before the new ones, which may name the same people
        location.off_hours_members = members
    if "escalation" in changes:
        tiers = _tiers(changes.pop("escalation"))
        location.escalation_tiers = []
        db.session.flush()  # the old rows go before the new ones, which may name the same people
        location.escalation_tiers = tiers
    if "ladder" in changes:
        changes["ladder"] = checked_ladder(changes["ladder"])
    if "locale" in changes:
        changes["locale"] = checked_locale(changes["locale"])
    for attribute, value in changes.items():
        setattr(location, attribute, value)
    record(
        "location.update",
        target_type="location",
        target_id=name,
        before=before,
        after=location_state(location),
    )
    db.session.commit()
    return location


def delete_location(name: str) -> None:
    """Remove a shop that has no alerts; its staff stay, detached from it."""
    location = get_location(name)
    if db.session.scalar(sa.select(Alert.id).where(Alert.location_id == location.id).limit(1)) is not None:
        raise Conflict("This location has alerts and cannot be deleted.")
    record(
        "location.delete", target_type="location", target_id=name, before=location_state(location), after=None
    )
    db.session.delete(location)
    db.session.commit()


def list_users(*, location: str | None = None) -> list[User]:
    """Every user, or those of one shop, with their shops and contact points (what their answer shows)."""
    query = (
        sa.select(User)
        .options(selectinload(User.locations), selectinload(User.contact_points))
        .order_by(User.id)
    )
    if location is not None:
        query = query.where(User.locations.any(Location.name == location))
    return list(db.session.scalars(query))


def get_user(user_uuid: str) -> User:
    """The user with this uuid."""
    user = db.session.scalar(sa.select(User).where(User.user_uuid == user_uuid))
    if user is None:
        raise NotFound("No user with this user_id.")
    return user


def _locations_named(names: list[str]) -> list[Location]:
    found = list(db.session.scalars(sa.select(Location).where(Location.name.in_(names))))
    missing = sorted(set(names) - {location.name for location in found})
    if missing:
        raise InvalidInput(f"Unknown locations: {', '.join(missing)}.", field="locations")
    return found


def create_user(
    *,
    user_uuid: str | None = None,
    name: str = "",
    level: Level = Level.CRITICAL,
    push_address: str | None = None,
    locale: str | None = None,
    location_names: list[str] = (),
) -> User:
    """Add a member of staff to the named shops; without a locale they read their shop's language."""
    user = User(
        user_uuid=user_uuid or new_id(), name=name, level=level, push_address=push_address, locale=locale
    )
    user.locations = _locations_named(list(location_names))
    db.session.add(user)
    record("user.create", target_type="user", target_id=user.user_uuid, before=None, after=user_state(user))
    _commit_or_conflict("A user with this user_uuid already exists.", field="user_uuid")
    return user


def language_of(user: User, shop: Location | None = None) -> str:
    """The locale to speak to a member of staff in about a shop's alert; with no alert, about their first
    shop (by name)."""
    shop = shop or next(iter(user.locations), None)
    return locale_for(user.locale, shop.locale if shop is not None else None)


def live_user(user_uuid: str) -> User:
    """The user with this uuid, provided they were not erased (409): an erased person's data stays gone."""
    user = get_user(user_uuid)
    if user.erased_at is not None:
        raise Conflict("This user was erased: their details cannot be set again.", field="user_uuid")
    return user


def update_user(user_uuid: str, *, location_names: list[str] | None = None, **changes) -> User:
    """Change a user's name, level, push address or shops (409 once erased)."""
    user = live_user(user_uuid)
    before = user_state(user)
    for attribute, value in changes.items():
        setattr(user, attribute, value)
    if location_names is not None:
        user.locations = _locations_named(location_names)
    record("user.update", target_type="user", target_id=user_uuid, before=before, after=user_state(user))
    db.session.commit()
    return user


def delete_user(user_uuid: str) -> None:
    """Remove a member of staff and their deliveries."""
    user = get_user(user_uuid)
    record("user.delete", target_type="user", target_id=user_uuid, before=user_state(user), after=None)
    db.session.delete(user)
    db.session.commit()


def _commit_or_conflict(message: str, *, field: str) -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise Conflict(message, field=field) from error
