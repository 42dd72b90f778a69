"""Seed data: shops, staff, routing rules and contact points read from a JSON file (the demo data)."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa

from nootification.errors import NootificationError
from nootification.extensions import db
from nootification.models import Level, Location, RouteRule, User
from nootification.services.audit import location_state, record, user_state
from nootification.services.contacts import delete_contact_point, set_contact_point
from nootification.services.directory import (
    checked_ladder,
    checked_locale,
    get_location,
    list_locations,
    update_location,
)
from nootification.services.opening_hours import checked_closures, checked_opening_hours
from nootification.services.routing import create_route, update_route

log = logging.getLogger(__name__)


class LoadedData(NamedTuple):
    """How many of each thing a data file holds, and how many of them this load wrote."""

    locations: int
    users: int
    routes: int
    contact_points: int
    written: int


def load_data(path: Path, *, reset: bool = False) -> LoadedData:
    """Store what a data file holds that the database lacks; with `reset`, put its rows back as it has them.

    The file holds `{"locations": [{name, display_name, timezone, locale?, escalate_after?, escalation?:
    [[user_uuid, ...], ...], ladder?: [{after_seconds, channels}, ...], group_window_seconds?, opening_hours?,
    closures?, off_hours_tier?: [user_uuid, ...]}], "users": [{user_uuid, name, level,
    push_address, locale?, locations: [names], contact_points: [{channel, address, level?, enabled?,
    options?}]}],
    "routes": [{label, channels, location?}]}`. Without `reset`, a shop, user, rule or contact point that
    exists is left as it is, so changes made through the API survive a restart; loading twice changes
    nothing. With `reset`, the file's shops, users and rules are overwritten and its users keep exactly the
    file's contact points. Routes and contact points go through the routing and contacts services, which
    validate them and commit each one: a refused entry stops the load, naming it, after the shops and users
    and the entries before it are stored.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    written = _load_shops_and_staff(data, reset=reset)
    routes = data.get("routes", [])
    for entry in routes:
        written += _load_route(entry, reset=reset)
    users = data.get("users", [])
    points = [(entry["user_uuid"], point) for entry in users for point in entry.get("contact_points", [])]
    for user_uuid, point in points:
        written += _load_contact_point(user_uuid, point, reset=reset)
    if reset:
        for entry in users:
            _drop_contact_points_not_in(entry)
    log.info("loaded %s (%d rows written%s)", path, written, ", reset" if reset else "")
    return LoadedData(len(data.get("locations", [])), len(users), len(routes), len(points), written)


def _load_shops_and_staff(data: dict, *, reset: bool) -> int:
    existing = {location.name: location for location in list_locations()}
    written = 0
    escalations = []
    for entry in data.get("locations", []):
        location = existing.get(entry["name"])
        if location is not None and not reset:
            continue
        before = location_state(location) if location is not None else None
        location = location or Location(name=entry["name"])
        location.display_name = entry.get("display_name", entry["name"])
        location.timezone = entry.get("timezone", "UTC")
        location.locale = checked_locale(entry.get("locale", "en"))
        location.escalate_after = entry.get("escalate_after", 60.0)
        location.ladder = checked_ladder(entry.get("ladder"))
        location.group_window_seconds = entry.get("group_window_seconds")
        location.opening_hours = checked_opening_hours(entry.get("opening_hours"))
        location.closures = checked_closures(entry.get("closures", []))
        db.session.add(location)
        db.session.flush()  # the column defaults, as the audit log records them
        action = "location.create" if before is None else "location.update"
        record(
            action,
            target_type="location",
            target_id=location.name,
            before=before,
            after=location_state(location),
        )
        existing[location.name] = location
        escalations.append((location.name, entry.get("escalation", []), entry.get("off_hours_tier", [])))
        written += 1
    for entry in data.get("users", []):
        user = db.session.scalar(sa.select(User).where(User.user_uuid == entry["user_uuid"]))
        if user is not None and not reset:
            continue
        before = user_state(user) if user is not None else None
        user = user or User(user_uuid=entry["user_uuid"])
        user.name = entry.get("name", "")
        user.level = Level.parse(entry.get("level", Level.CRITICAL))
        user.push_address = entry.get("push_address")
        user.locale = entry.get("locale")
        user.locations = [existing[name] for name in entry.get("locations", [])]
        db.session.add(user)
        db.session.flush()
        action = "user.create" if before is None else "user.update"
        record(action, target_type="user", target_id=user.user_uuid, before=before, after=user_state(user))
        written += 1
    db.session.commit()
    # The tiers name users, so they come once the users are stored.
    for name, escalation, off_hours_tier in escalations:
        with _naming(f"escalation of {name!r}"):
            update_location(name, escalation=escalation, off_hours_tier=off_hours_tier)
    return written


def _load_route(entry: dict, *, reset: bool) -> int:
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
        elif reset:
            update_route(rule.id, channels=entry["channels"])
        else:
            return 0
    return 1


def _load_contact_point(user_uuid: str, point: dict, *, reset: bool) -> int:
    user = db.session.scalar(sa.select(User).where(User.user_uuid == user_uuid))
    if not reset and any(existing.channel == point["channel"] for existing in user.contact_points):
        return 0
    with _naming(f"{point['channel']} contact point of user {user_uuid}"):
        set_contact_point(
            user_uuid,
            point["channel"],
            address=point.get("address"),
            options=point.get("options"),
            enabled=point.get("enabled", True),
            level=Level.parse(point["level"]) if point.get("level") else None,
        )
    return 1


def _drop_contact_points_not_in(entry: dict) -> None:
    user = db.session.scalar(sa.select(User).where(User.user_uuid == entry["user_uuid"]))
    kept = {point["channel"] for point in entry.get("contact_points", [])}
    for channel in sorted({point.channel for point in user.contact_points} - kept):
        delete_contact_point(entry["user_uuid"], channel)


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
