"""Shops and their staff: the admin side of who works where."""

import json
import logging
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from nootification.errors import Conflict, InvalidInput, NotFound
from nootification.extensions import db
from nootification.models import Alert, Level, Location, User, new_id

log = logging.getLogger(__name__)


def list_locations() -> list[Location]:
    """Every shop, by name."""
    return list(db.session.scalars(sa.select(Location).order_by(Location.name)))


def get_location(name: str) -> Location:
    """The shop with this name."""
    location = db.session.scalar(sa.select(Location).where(Location.name == name))
    if location is None:
        raise NotFound("No location with this name.")
    return location


def create_location(*, name: str, display_name: str | None = None, timezone: str = "UTC") -> Location:
    """Add a shop; its name must be new."""
    location = Location(name=name, display_name=display_name or name, timezone=timezone)
    db.session.add(location)
    _commit_or_conflict("A location with this name already exists.", field="name")
    return location


def update_location(name: str, **changes) -> Location:
    """Change a shop's display name or timezone."""
    location = get_location(name)
    for attribute, value in changes.items():
        setattr(location, attribute, value)
    db.session.commit()
    return location


def delete_location(name: str) -> None:
    """Remove a shop that has no alerts; its staff stay, detached from it."""
    location = get_location(name)
    if db.session.scalar(sa.select(Alert.id).where(Alert.location_id == location.id).limit(1)) is not None:
        raise Conflict("This location has alerts and cannot be deleted.")
    db.session.delete(location)
    db.session.commit()


def list_users(*, location: str | None = None) -> list[User]:
    """Every user, or those of one shop."""
    query = sa.select(User).order_by(User.id)
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
    locale: str = "en",
    location_names: list[str] = (),
) -> User:
    """Add a member of staff to the named shops."""
    user = User(
        user_uuid=user_uuid or new_id(), name=name, level=level, push_address=push_address, locale=locale
    )
    user.locations = _locations_named(list(location_names))
    db.session.add(user)
    _commit_or_conflict("A user with this user_uuid already exists.", field="user_uuid")
    return user


def update_user(user_uuid: str, *, location_names: list[str] | None = None, **changes) -> User:
    """Change a user's name, level, push address or shops."""
    user = get_user(user_uuid)
    for attribute, value in changes.items():
        setattr(user, attribute, value)
    if location_names is not None:
        user.locations = _locations_named(location_names)
    db.session.commit()
    return user


def delete_user(user_uuid: str) -> None:
    """Remove a member of staff and their deliveries."""
    db.session.delete(get_user(user_uuid))
    db.session.commit()


def _commit_or_conflict(message: str, *, field: str) -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise Conflict(message, field=field) from error


def load_data(path: Path) -> tuple[int, int]:
    """Create or update the shops and users of a JSON data file; return how many of each it holds.

    The file holds `{"locations": [{name, display_name, timezone}], "users": [{user_uuid, name,
    level, push_address, locations: [names]}]}`; loading it twice changes nothing.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    existing_locations = {location.name: location for location in list_locations()}
    for entry in data.get("locations", []):
        location = existing_locations.get(entry["name"]) or Location(name=entry["name"])
        location.display_name = entry.get("display_name", entry["name"])
        location.timezone = entry.get("timezone", "UTC")
        db.session.add(location)
        existing_locations[location.name] = location
    for entry in data.get("users", []):
        user = db.session.scalar(sa.select(User).where(User.user_uuid == entry["user_uuid"]))
        user = user or User(user_uuid=entry["user_uuid"])
        user.name = entry.get("name", "")
        user.level = Level(entry.get("level", Level.CRITICAL).upper())
        user.push_address = entry.get("push_address")
        user.locations = [existing_locations[name] for name in entry.get("locations", [])]
        db.session.add(user)
    db.session.commit()
    log.info("loaded %s", path)
    return len(data.get("locations", [])), len(data.get("users", []))
