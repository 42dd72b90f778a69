"""Shops and their staff: the admin side of who works where."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from nootification.errors import Conflict, InvalidInput, NootificationError, NotFound
from nootification.extensions import db
from nootification.models import Alert, Level, Location, RouteRule, User, new_id

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


class LoadedData(NamedTuple):
    """How many of each thing a data file holds."""

    locations: int
    users: int
    routes: int
    contact_points: int


def load_data(path: Path) -> LoadedData:
    """Create or update the shops, users, routing rules and contact points of a JSON data file.

    The file holds `{"locations": [{name, display_name, timezone}], "users": [{user_uuid, name, level,
    push_address, locations: [names], contact_points: [{channel, address, level?, enabled?, options?}]}],
    "routes": [{label, channels, location?}]}`; loading it twice changes nothing. Routes and contact points
    go through the routing and contacts services, which validate them and commit each one: a refused entry
    stops the load, naming it, after the shops and users and the entries before it are stored.
    """
    # contacts and routing import this module (get_user, get_location): importing them at the top is a cycle.
    from nootification.services.contacts import set_contact_point
    from nootification.services.routing import create_route, update_route

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    _load_shops_and_staff(data)
    routes = data.get("routes", [])
    for entry in routes:
        name = entry.get("location")
        with _naming(f"route for {entry['label']!r} at {name or 'every location'}"):
            location_id = get_location(name).id if name else None
            rule = db.session.scalar(
                sa.select(RouteRule).where(
                    RouteRule.location_id == location_id, RouteRule.label == entry["label"]
                )
            )
            if rule is None:
                create_route(label=entry["label"], channels=entry["channels"], location=name)
            else:
                update_route(rule.id, channels=entry["channels"])
    points = [
        (entry["user_uuid"], point)
        for entry in data.get("users", [])
        for point in entry.get("contact_points", [])
    ]
    for user_uuid, point in points:
        with _naming(f"{point['channel']} contact point of user {user_uuid}"):
            set_contact_point(
                user_uuid,
                point["channel"],
                address=point.get("address"),
                options=point.get("options"),
                enabled=point.get("enabled", True),
                level=Level(point["level"].upper()) if point.get("level") else None,
            )
    log.info("loaded %s", path)
    return LoadedData(len(data.get("locations", [])), len(data.get("users", [])), len(routes), len(points))


def _load_shops_and_staff(data: dict) -> None:
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


@contextmanager
def _naming(entry: str) -> Iterator[None]:
    # A refusal says what is wrong but not which entry of the file it is about.
    try:
        yield
    except NootificationError as error:
        reasons = "; ".join(
            f"{field}: {' '.join(map(str, why)) if isinstance(why, list) else why}"
            for field, why in (error.errors or {}).items()
        )
        message = f"{entry}: {error.message}" + (f" ({reasons})" if reasons else "")
        raise type(error)(message, errors=error.errors) from error
