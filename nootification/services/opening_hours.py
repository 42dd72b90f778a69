"""A shop's opening hours and closures: checking them, and whether it is open at a moment (pure, no database).

Hours are wall-clock times in the shop's timezone, so a shop opening at 08:30 opens at 08:30 local on the
days the clocks change. A wall time read twice (the clocks going back) means its first occurrence; one the
clocks skip (going forward) means the moment they jump, i.e. the first wall time after it.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nootification.errors import InvalidInput
from nootification.models import Location

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far next_opening looks: a shop closed for longer has no next opening (None).
LOOKAHEAD_DAYS = 14
MAX_RANGES_PER_DAY = 8
MAX_CLOSURES = 400
_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEK_MINUTES = 7 * 24 * 60
_FULL_DAY = ((time(0), time(0)),)


def checked_opening_hours(value: object) -> dict[str, list[list[str]]] | None:
    """Opening hours as stored: None (always open), or each weekday `mon`..`sun` (a missing one: closed that
    day) with its ranges `[start, end]` "HH:MM", sorted; a range whose end is not after its start runs past
    midnight into the next day. 422 on a bad key or time, a range starting where it ends, overlapping ranges,
    or a week with no range at all (null means always open)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _refused(
            "Must be an object of weekdays (mon..sun), each a list of [start, end] ranges, or null."
        )
    unknown = sorted(_shown(key) for key in value if key not in WEEKDAYS)
    if unknown:
        raise _refused(f"Unknown weekdays: {', '.join(unknown[:7])}; use {', '.join(WEEKDAYS)}.")
    week = {day: sorted(_ranges(day, value.get(day, []))) for day in WEEKDAYS}
    if not any(week.values()):
        raise _refused(
            "A week without any opening range would keep the shop closed for good; null: always open."
        )
    _refuse_overlaps(week)
    return {day: [list(pair) for pair in ranges] for day, ranges in week.items()}


def _shown(value: object) -> str:
    """A value as quoted in a reason, cut short: the reason must not echo a huge input back."""
    quoted = repr(value)
    return quoted if len(quoted) <= 24 else f"{quoted[:21]}..."


def _refused(reason: str) -> InvalidInput:
    return InvalidInput(reason, field="opening_hours")


def _ranges(day: str, ranges: object) -> list[tuple[str, str]]:
    if not isinstance(ranges, list):
        raise _refused(f"{day}: must be a list of [start, end] ranges ([] for closed).")
    if len(ranges) > MAX_RANGES_PER_DAY:
        raise _refused(f"{day}: at most {MAX_RANGES_PER_DAY} ranges a day.")
    checked = []
    for pair in ranges:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _refused(f"{day}: each range is a list of two times, [start, end].")
        start, end = pair
        for moment in pair:
            if not (isinstance(moment, str) and _TIME.fullmatch(moment)):
                raise _refused(
                    f'{day}: {_shown(moment)} is not a time "HH:MM" from 00:00 to 23:59 (midnight: "00:00").'
                )
        if start == end:
            raise _refused(f"{day}: the range {start}-{end} starts where it ends.")
        checked.append((start, end))
    return checked


def _minutes(moment: str) -> int:
    hours, minutes = moment.split(":")
    return int(hours) * 60 + int(minutes)


def _refuse_overlaps(week: dict[str, list[tuple[str, str]]]) -> None:
    """422 if two ranges share a minute, past midnight and from Sunday into Monday included."""
    spans = []
    for index, day in enumerate(WEEKDAYS):
        for start, end in week[day]:
            begin = index * 24 * 60 + _minutes(start)
            length = (_minutes(end) - _minutes(start)) % (24 * 60)
            spans.append((begin, begin + length, day, f"{start}-{end}"))
    spans.sort()
    # Each range against the next one, and the last against the first a week later (Sunday into Monday).
    following = [*spans[1:], (spans[0][0] + _WEEK_MINUTES, *spans[0][1:])] if len(spans) > 1 else []
    for (_, end, day, shown), (next_begin, _, next_day, next_shown) in zip(spans, following, strict=False):
        if next_begin < end:
            raise _refused(f"{day} {shown} overlaps {next_day} {next_shown}.")


def checked_closures(value: object) -> list[str]:
    """Closure dates as stored: ISO dates "YYYY-MM-DD", each once, sorted; 422 (field closures) otherwise."""
    if not isinstance(value, list):
        raise InvalidInput('Must be a list of dates "YYYY-MM-DD".', field="closures")
    if len(value) > MAX_CLOSURES:
        raise InvalidInput(f"At most {MAX_CLOSURES} closure dates.", field="closures")
    for day in value:
        if not (isinstance(day, str) and _DATE.fullmatch(day) and _is_date(day)):
            raise InvalidInput(f'{_shown(day)} is not a date "YYYY-MM-DD".', field="closures")
    return sorted(set(value))


def _is_date(day: str) -> bool:
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return True


def is_open(at: datetime, *, hours: dict | None, closures: list[str], timezone: str) -> bool:
    """Whether the shop is open at `at` (aware): within one of its day's ranges, on no closure date. No
    hours: always open, except on its closure dates."""
    at = _aware(at)
    return any(start <= at < end for start, end in _openings(at, hours, closures, ZoneInfo(timezone)))


def next_opening(at: datetime, *, hours: dict | None, closures: list[str], timezone: str) -> datetime | None:
    """The first moment at or after `at` (aware) when the shop is open, in UTC: `at` itself while it is open
    (an always-open shop too); None if it stays closed for the next LOOKAHEAD_DAYS days."""
    at = _aware(at).astimezone(UTC)
    if is_open(at, hours=hours, closures=closures, timezone=timezone):
        return at
    limit = at + timedelta(days=LOOKAHEAD_DAYS)
    openings = _openings(at, hours, closures, ZoneInfo(timezone), days=LOOKAHEAD_DAYS)
    return min((start for start, end in openings if at < start < end and start <= limit), default=None)


def _aware(at: datetime) -> datetime:
    """`at`, refused (ValueError) without a timezone: a naive moment would be read in the server's."""
    if at.tzinfo is None:
        raise ValueError("A moment with its timezone, please.")
    return at


def _openings(
    at: datetime, hours: dict | None, closures: list[str], zone: ZoneInfo, *, days: int = 0
) -> Iterator[tuple[datetime, datetime]]:
    """The shop's openings (UTC start, end) begun on the local days from two before `at`'s to `days` after.

    A closure date closes its whole local day: the ranges begun on it do not open at all (not even their
    part past midnight), and a range begun the evening before ends at its midnight.
    """
    closed = set(closures)
    today = at.astimezone(zone).date()
    for offset in range(-2, days + 1):
        day = today + timedelta(days=offset)
        if day.isoformat() in closed:
            continue
        ranges = (
            _FULL_DAY if hours is None else [_times(pair) for pair in hours.get(WEEKDAYS[day.weekday()], [])]
        )
        for start, end in ranges:
            end_day = day if start < end else day + timedelta(days=1)
            if end_day != day and end_day.isoformat() in closed:
                end = time(0)
            yield _instant(datetime.combine(day, start), zone), _instant(datetime.combine(end_day, end), zone)


def _times(pair: list[str]) -> tuple[time, time]:
    return time.fromisoformat(pair[0]), time.fromisoformat(pair[1])


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first moment (UTC) the clock in `zone` reads `wall`; for a wall time it skips, the jump."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # Skipped: fold=0 reads the wall time with the offset before the jump (a moment after it), fold=1 with
    # the one after (a moment before it); the jump lies between, found to the second.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(first.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def shop_is_open(shop: Location, at: datetime) -> bool:
    """Whether the shop is open at `at`, by its opening hours and closure dates in its timezone."""
    return is_open(at, hours=shop.opening_hours, closures=shop.closures or [], timezone=shop.timezone)
