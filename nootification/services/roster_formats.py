"""A roster as sent: the lines of a CSV or the events of an iCalendar feed, read into entries in UTC.

Times without an offset (a CSV time without one, an iCalendar floating time) are the shop's wall time. A wall
time that a daylight-saving change skips or repeats is read as RFC 5545 says for iCalendar, for both formats:
a skipped time with the offset before the change, a repeated one as its first occurrence.
"""

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import icalendar
from icalendar.error import InvalidCalendar

CSV = "text/csv"
ICALENDAR = "text/calendar"
MEDIA_TYPES = (CSV, ICALENDAR)
CSV_COLUMNS = ("user", "start", "end")
# Where a refusal is reported for the roster as a whole rather than one line or event.
WHOLE = "roster"
# An iCalendar ATTENDEE names the person by email or, for one without an email contact point, by user uuid.
MAILTO, URN_UUID = "mailto:", "urn:uuid:"
# How many problems a refusal lists: enough to fix a file in one go, bounded for a file wrong throughout.
MAX_REPORTED = 20


@dataclass(frozen=True)
class Entry:
    """One shift as read: the fields it came from (`line 3.user`, `event 2.DTEND`), who, when (UTC)."""

    person_field: str
    end_field: str
    person: str
    starts_at: datetime
    ends_at: datetime


class Problems:
    """The refusals found while reading a roster, by field (`line 3.start`), at most MAX_REPORTED listed."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.count = 0

    def add(self, field: str, reason: str) -> None:
        """Note one problem."""
        self.count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.setdefault(field, []).append(reason)

    def listed(self) -> dict[str, list[str]]:
        """The problems as an error body's `errors`, saying how many more were found than listed."""
        unlisted = self.count - sum(len(reasons) for reasons in self.errors.values())
        if unlisted > 0:
            return {**self.errors, WHOLE: [*self.errors.get(WHOLE, []), f"{unlisted} more problems."]}
        return self.errors


class TooManyShifts(Exception):
    """The roster holds more shifts than one import takes."""


def in_utc(moment: date | datetime, zone: ZoneInfo) -> datetime:
    """A roster's time in UTC: a date is the shop's midnight, a time without offset the shop's wall time."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    if moment.tzinfo is None:
        # fold=0: a skipped wall time takes the offset before the change, a repeated one its first occurrence.
        moment = moment.replace(tzinfo=zone, fold=0)
    return moment.astimezone(UTC)


def read_roster(text: str, media_type: str, zone: ZoneInfo, problems: Problems, limit: int) -> list[Entry]:
    """The entries of a roster in one of MEDIA_TYPES; the lines or events refused go to `problems`."""
    reader = read_csv if media_type == CSV else read_icalendar
    return reader(text, zone, problems, limit)


def read_csv(text: str, zone: ZoneInfo, problems: Problems, limit: int) -> list[Entry]:
    """The shifts of a CSV whose header names `user`, `start` and `end` (other columns ignored)."""
    reader = csv.reader(io.StringIO(text))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        problems.add(
            WHOLE, f"The first line must name the columns user, start and end; {missing[0]} is missing."
        )
        return []
    where = {name: header.index(name) for name in CSV_COLUMNS}
    entries, rows = [], 0
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        if rows > limit:
            raise TooManyShifts
        line = f"line {reader.line_num}"
        values = {name: row[index].strip() if index < len(row) else "" for name, index in where.items()}
        if not values["user"]:
            problems.add(f"{line}.user", "Missing: a user uuid or email.")
        times = [_csv_time(values[name], f"{line}.{name}", zone, problems) for name in ("start", "end")]
        if values["user"] and None not in times:
            entries.append(Entry(f"{line}.user", f"{line}.end", values["user"], *times))
    return entries


def _csv_time(value: str, field: str, zone: ZoneInfo, problems: Problems) -> datetime | None:
    try:
        return in_utc(datetime.fromisoformat(value), zone)
    except ValueError:
        problems.add(field, f"Not an ISO 8601 date and time: {value[:40]!r}.")
        return None


def read_icalendar(text: str, zone: ZoneInfo, problems: Problems, limit: int) -> list[Entry]:
    """The shifts of an iCalendar feed: one per VEVENT and ATTENDEE (cancelled events left out)."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as error:
        problems.add(WHOLE, f"Not an iCalendar feed: {str(error)[:200]}")
        return []
    if calendar.name != "VCALENDAR":
        problems.add(WHOLE, f"Not an iCalendar feed: a {calendar.name} where a VCALENDAR was expected.")
        return []
    entries = []
    for number, event in enumerate(calendar.walk("VEVENT"), start=1):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        source = f"event {number}"
        people = _attendees(event, source, problems)
        times = _event_times(event, source, zone, problems)
        if times is None:
            continue
        for attendee in people:
            if len(entries) >= limit:
                raise TooManyShifts
            entries.append(Entry(f"{source}.ATTENDEE", f"{source}.DTEND", attendee, *times))
    return entries


def _attendees(event: icalendar.Event, source: str, problems: Problems) -> list[str]:
    """The people an event names: each ATTENDEE's email (`mailto:`) or user uuid (`urn:uuid:`)."""
    values = event.get("ATTENDEE", [])
    values = values if isinstance(values, list) else [values]
    if not values:
        problems.add(
            f"{source}.ATTENDEE", "Missing: ATTENDEE:mailto:<email> or ATTENDEE:urn:uuid:<user uuid>."
        )
    people = []
    for value in map(str, values):
        scheme = next((s for s in (MAILTO, URN_UUID) if value.lower().startswith(s)), None)
        person = value[len(scheme) :].strip() if scheme else ""
        if scheme is None or not person:
            problems.add(
                f"{source}.ATTENDEE", f"Not mailto:<email> nor urn:uuid:<user uuid>: {value[:80]!r}."
            )
        elif scheme == URN_UUID and not is_uuid(person):
            problems.add(f"{source}.ATTENDEE", f"Not a uuid: {person[:40]!r}.")
        else:
            people.append(person)
    return people


def is_uuid(text: str) -> bool:
    """Whether the text is a uuid (the way a roster names a person by their user uuid)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _event_times(
    event: icalendar.Event, source: str, zone: ZoneInfo, problems: Problems
) -> tuple[datetime, datetime] | None:
    """An event's start and end in UTC (DTEND, or DTSTART plus DURATION); None when refused."""
    broken = [(name, reason) for name, reason in event.errors if name in ("DTSTART", "DTEND", "DURATION")]
    for name, reason in broken:
        problems.add(f"{source}.{name}", f"Not readable: {reason[:200]}")
    if broken:
        return None
    if "RRULE" in event or "RDATE" in event:
        problems.add(f"{source}.RRULE", "Repeating events are not read: one VEVENT per shift.")
        return None
    if "DTSTART" not in event:
        problems.add(f"{source}.DTSTART", "Missing.")
        return None
    for name in ("DTSTART", "DTEND"):
        prop = event.get(name)
        tzid = prop.params.get("TZID") if prop is not None else None
        if tzid and isinstance(prop.dt, datetime) and prop.dt.tzinfo is None:
            problems.add(f"{source}.{name}", f"Unknown timezone {tzid[:64]!r}, with no VTIMEZONE for it.")
            return None
    try:
        start, end = event.start, event.end
    except InvalidCalendar as error:
        problems.add(f"{source}.DTEND", f"Not readable: {str(error)[:200]}")
        return None
    return in_utc(start, zone), in_utc(end, zone)
