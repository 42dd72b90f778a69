"""A shop's roster: replaced whole from a CSV or an iCalendar feed, read back, or removed (everyone told)."""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from nootification.errors import InvalidInput, TooLarge
from nootification.extensions import db
from nootification.models import ContactPoint, Location, Shift, User, user_locations, utcnow
from nootification.services.audit import record
from nootification.services.contacts import contacts_of
from nootification.services.directory import get_location
from nootification.services.opening_hours import shop_is_open
from nootification.services.recipients import on_shift_staff
from nootification.services.roster_formats import WHOLE, Entry, Problems, TooManyShifts, is_uuid, read_roster

# One import at most: a month of a large shop's shifts fits many times over; more is a mistake.
MAX_SHIFTS = 5000
MAX_BYTES = 1024 * 1024
EMAIL_CHANNEL = "email"
REFUSED = "The roster was refused: nothing was stored."
NO_CONTACT = "No enabled contact point: this person would hear of no alert while on shift."


@dataclass(frozen=True)
class RosterWarning:
    """A person on a shift whom an alert could not reach, and why."""

    user: str
    reason: str


@dataclass(frozen=True)
class RosterImport:
    """What an import stored: shifts (after merging a person's overlaps), people, and warnings."""

    shifts: int
    people: int
    warnings: list[RosterWarning]


@dataclass(frozen=True)
class RosterShift:
    """A shift as shown: whose (user uuid), its start and end in UTC and in the shop's time."""

    user: str
    starts_at: datetime
    ends_at: datetime
    starts_at_local: datetime
    ends_at_local: datetime


@dataclass(frozen=True)
class Roster:
    """A shop's roster: when it was sent (None: no roster), its timezone, its shifts not over yet."""

    updated_at: datetime | None
    timezone: str
    shifts: list[RosterShift]


def replace_roster(name: str, *, body: bytes, media_type: str) -> RosterImport:
    """Replace a shop's roster whole with the one sent (a CSV or an iCalendar feed, see roster_formats): 422
    naming each line or event refused (unreadable, an unknown person or one not of the shop, an end not after
    its start), 413 past MAX_SHIFTS; nothing is stored unless all of it is."""
    location = _locked(name)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(REFUSED, errors={WHOLE: ["Not UTF-8 text."]}) from None
    problems = Problems()
    try:
        entries = read_roster(text, media_type, ZoneInfo(location.timezone), problems, MAX_SHIFTS)
    except TooManyShifts:
        raise TooLarge(f"More than {MAX_SHIFTS} shifts in one roster.", field=WHOLE) from None
    users = _people(entries, location, problems)
    for entry in entries:
        if entry.ends_at <= entry.starts_at:
            problems.add(entry.end_field, "Ends at or before its start.")
    if problems.count:
        raise InvalidInput(REFUSED, errors=problems.listed())
    spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for entry in entries:
        spans[users[entry.person].id].append((entry.starts_at, entry.ends_at))
    rows = [
        {"location_id": location.id, "user_id": user_id, "starts_at": start, "ends_at": end}
        for user_id, found in spans.items()
        for start, end in merged(found)
    ]
    before = _counts(location)
    db.session.execute(sa.delete(Shift).where(Shift.location_id == location.id))
    if rows:
        db.session.execute(sa.insert(Shift), rows)
    location.roster_updated_at = utcnow()
    after = {"shifts": len(rows), "people": len(spans), "updated_at": location.roster_updated_at.isoformat()}
    record("roster.replace", target_type="location", target_id=name, before=before, after=after)
    warnings = _warnings(spans)
    db.session.commit()
    return RosterImport(len(rows), len(spans), warnings)


def merged(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """One person's shifts with the overlapping or touching ones joined, in order."""
    joined: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def roster_of(name: str, *, now: datetime | None = None) -> Roster:
    """A shop's roster with its shifts that are not over at `now` (current and upcoming), by start."""
    location = get_location(name)
    zone = ZoneInfo(location.timezone)
    rows = db.session.execute(
        sa.select(User.user_uuid, Shift.starts_at, Shift.ends_at)
        .join(User, User.id == Shift.user_id)
        .where(Shift.location_id == location.id, Shift.ends_at > (now or utcnow()))
        .order_by(Shift.starts_at, User.user_uuid)
    )
    shifts = [
        RosterShift(user, start, end, start.astimezone(zone), end.astimezone(zone))
        for user, start, end in rows
    ]
    return Roster(location.roster_updated_at, location.timezone, shifts)


def remove_roster(name: str) -> None:
    """Take a shop's roster away: its alerts tell everyone attached again."""
    location = _locked(name)
    before = _counts(location)
    db.session.execute(sa.delete(Shift).where(Shift.location_id == location.id))
    location.roster_updated_at = None
    record("roster.delete", target_type="location", target_id=name, before=before, after=None)
    db.session.commit()


def _locked(name: str) -> Location:
    """The shop, its row locked until the commit: two rosters sent at once are stored one after the other."""
    location = db.session.scalar(sa.select(Location).where(Location.name == name).with_for_update())
    return location if location is not None else get_location(name)


def _counts(location: Location) -> dict | None:
    """A roster as the audit log records it: how many shifts and people, when it was sent; None for none."""
    if location.roster_updated_at is None:
        return None
    shifts, people = db.session.execute(
        sa.select(sa.func.count(Shift.id), sa.func.count(sa.distinct(Shift.user_id))).where(
            Shift.location_id == location.id
        )
    ).one()
    return {"shifts": shifts, "people": people, "updated_at": location.roster_updated_at.isoformat()}


def _people(entries: list[Entry], location: Location, problems: Problems) -> dict[str, User]:
    """The users the entries name (by uuid or by the address of their email contact point), each of the
    shop's staff and not erased; every other entry goes to `problems`."""
    named = {entry.person for entry in entries}
    uuids = {person: str(uuid.UUID(person)) for person in named if is_uuid(person)}
    emails = {person.lower() for person in named - uuids.keys()}
    candidates: dict[str, list[User]] = defaultdict(list)
    if uuids:
        for user in db.session.scalars(sa.select(User).where(User.user_uuid.in_(set(uuids.values())))):
            candidates[user.user_uuid].append(user)
    if emails:
        address = sa.func.lower(ContactPoint.address)
        for email, user in db.session.execute(
            sa.select(address, User)
            .join(User, User.id == ContactPoint.user_id)
            .where(ContactPoint.channel == EMAIL_CHANNEL, address.in_(emails))
        ):
            candidates[email].append(user)
    staff = set(
        db.session.scalars(
            sa.select(user_locations.c.user_id).where(user_locations.c.location_id == location.id)
        )
    )
    found: dict[str, User] = {}
    for entry in entries:
        if entry.person in found:
            continue
        key = uuids.get(entry.person) or entry.person.lower()
        reason = _refusal(entry.person, candidates.get(key, []), staff)
        if reason:
            problems.add(entry.person_field, reason)
        else:
            found[entry.person] = candidates[key][0]
    return found


def _refusal(person: str, candidates: list[User], staff: set[int]) -> str | None:
    """Why a person named on a roster cannot be on it, or None."""
    if not candidates:
        return f"No user with this uuid or email: {person[:80]}."
    if len(candidates) > 1:
        return f"Several users have the email {person[:80]}: name each by user uuid."
    user = candidates[0]
    if user.erased_at is not None:
        return f"User {user.user_uuid} was erased."
    if user.id not in staff:
        return f"User {user.user_uuid} ({person[:80]}) is not attached to this shop."
    return None


def _warnings(spans: dict[int, list]) -> list[RosterWarning]:
    """The people on the roster no alert could reach: none of their contacts is enabled."""
    users = db.session.scalars(
        sa.select(User).options(selectinload(User.contact_points)).where(User.id.in_(spans)).order_by(User.id)
    )
    return [
        RosterWarning(user.user_uuid, NO_CONTACT)
        for user in users
        if not any(contact.enabled for contact in contacts_of(user))
    ]


def uncovered_shops(now: datetime) -> list[str]:
    """The shops open now whose roster has nobody on shift, by name."""
    with_roster = db.session.scalars(
        sa.select(Location).where(Location.roster_updated_at.is_not(None)).order_by(Location.name)
    )
    return [shop.name for shop in with_roster if shop_is_open(shop, now) and not on_shift_staff(shop.id, now)]
