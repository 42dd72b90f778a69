"""A shop's opening hours and closures as pure rules: what is accepted, whether it is open at a moment, when
it next opens; in wall time of its timezone, daylight-saving days (Europe/Paris) included."""

from datetime import UTC, datetime, timedelta

import pytest

from nootification.errors import InvalidInput
from nootification.services.opening_hours import (
    LOOKAHEAD_DAYS,
    checked_closures,
    checked_opening_hours,
    is_open,
    next_opening,
)

PARIS = "Europe/Paris"
# Mondays to Saturdays 08:30-20:00 (Saturday night also 22:00-02:00), Sundays closed.
SHOP = checked_opening_hours(
    {
        **{day: [["08:30", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "sat": [["08:30", "20:00"], ["22:00", "02:00"]],
    }
)
# Open every day from 01:00 to 05:00: a range across 02:00/03:00, the hours skipped or repeated on DST days.
NIGHT = checked_opening_hours(
    {day: [["01:00", "05:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
)
# Open every day from 02:30 (a wall time that does not exist on 2027-03-28 and exists twice on 2027-10-31).
AT_0230 = checked_opening_hours(
    {day: [["02:30", "06:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
)


def utc(*parts: int) -> datetime:
    """A moment in UTC."""
    return datetime(*parts, tzinfo=UTC)


def test_hours_are_stored_with_every_weekday_and_sorted_ranges():
    assert checked_opening_hours({"tue": [["14:00", "19:00"], ["09:00", "12:00"]]}) == {
        "mon": [],
        "tue": [["09:00", "12:00"], ["14:00", "19:00"]],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [],
        "sun": [],
    }
    assert checked_opening_hours(None) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({}, "closed for good"),
        ({"mon": [], "sun": []}, "closed for good"),
        ([["08:00", "20:00"]], "object of weekdays"),
        ({"monday": [["08:00", "20:00"]]}, "Unknown weekdays: 'monday'"),
        ({"mon": [["8:00", "20:00"]]}, "'8:00' is not a time"),
        ({"mon": [["08:00", "24:00"]]}, "'24:00' is not a time"),
        ({"mon": [["08:00", "20:60"]]}, "'20:60' is not a time"),
        ({"mon": [["08:00", 20]]}, "20 is not a time"),
        ({"mon": [["08:00"]]}, "two times"),
        ({"mon": "08:00-20:00"}, "mon: must be a list"),
        ({"mon": [["08:00", "08:00"]]}, "mon: the range 08:00-08:00 starts where it ends"),
        ({"mon": [["08:00", "12:00"], ["11:00", "14:00"]]}, "mon 08:00-12:00 overlaps mon 11:00-14:00"),
        ({"mon": [["08:00", "12:00"], ["08:00", "12:00"]]}, "overlaps"),
        (
            {"mon": [["22:00", "03:00"]], "tue": [["02:00", "10:00"]]},
            "mon 22:00-03:00 overlaps tue 02:00-10:00",
        ),
        (
            {"sun": [["22:00", "03:00"]], "mon": [["02:00", "10:00"]]},
            "sun 22:00-03:00 overlaps mon 02:00-10:00",
        ),
        ({"mon": [["00:00", "00:00"]]}, "starts where it ends"),
    ],
)
def test_hours_are_refused_with_their_reason(value, reason):
    with pytest.raises(InvalidInput) as refused:
        checked_opening_hours(value)
    [(field, [message])] = refused.value.errors.items()
    assert field == "opening_hours" and reason in message


def test_ranges_that_touch_or_run_to_midnight_are_accepted():
    hours = checked_opening_hours(
        {
            "mon": [["08:00", "12:00"], ["12:00", "00:00"]],
            "tue": [["00:00", "02:00"]],
            "sun": [["20:00", "08:00"]],
        }
    )
    assert hours["mon"] == [["08:00", "12:00"], ["12:00", "00:00"]]


def test_closures_are_dates_each_once_sorted():
    assert checked_closures(["2027-12-25", "2027-01-01", "2027-12-25"]) == ["2027-01-01", "2027-12-25"]
    assert checked_closures([]) == []


@pytest.mark.parametrize(
    "value", [["2027-02-30"], ["20271225"], ["2027-12-25T00:00"], [20271225], "2027-12-25"]
)
def test_closures_that_are_not_dates_are_refused(value):
    with pytest.raises(InvalidInput) as refused:
        checked_closures(value)
    assert list(refused.value.errors) == ["closures"]


@pytest.mark.parametrize(
    ("at", "hours", "closures", "expected"),
    [
        # 2027-06-07 is a Monday; Paris is UTC+2 in summer.
        (utc(2027, 6, 7, 6, 29), SHOP, [], False),  # 08:29 local
        (utc(2027, 6, 7, 6, 30), SHOP, [], True),  # 08:30 local: opens
        (utc(2027, 6, 7, 17, 59), SHOP, [], True),  # 19:59
        (utc(2027, 6, 7, 18, 0), SHOP, [], False),  # 20:00: closed (the end is not in the range)
        (utc(2027, 6, 6, 10, 0), SHOP, [], False),  # Sunday: no range
        (utc(2027, 6, 5, 23, 30), SHOP, [], True),  # Sunday 01:30, in Saturday night's range
        (utc(2027, 6, 6, 0, 0), SHOP, [], False),  # Sunday 02:00, its end
        (utc(2027, 6, 7, 10, 0), SHOP, ["2027-06-07"], False),  # a closure date
        (
            utc(2027, 6, 5, 23, 30),
            SHOP,
            ["2027-06-06"],
            False,
        ),  # Saturday night cut at the closure's midnight
        (utc(2027, 6, 5, 21, 30), SHOP, ["2027-06-06"], True),  # ... open until then
        (
            utc(2027, 6, 5, 23, 30),
            SHOP,
            ["2027-06-05"],
            False,
        ),  # begun on a closure date: not open past midnight
        (utc(2027, 6, 6, 3, 0), None, [], True),  # no hours: always open
        (utc(2027, 6, 6, 3, 0), None, ["2027-06-06"], False),  # ... except on a closure date
        (utc(2027, 6, 6, 22, 0), None, ["2027-06-06"], True),  # Monday 00:00 local
    ],
)
def test_is_open(at, hours, closures, expected):
    assert is_open(at, hours=hours, closures=closures, timezone=PARIS) is expected


@pytest.mark.parametrize(
    ("at", "hours", "closures", "expected"),
    [
        (utc(2027, 6, 7, 5, 0), SHOP, [], utc(2027, 6, 7, 6, 30)),  # before Monday's opening
        (utc(2027, 6, 7, 10, 0), SHOP, [], utc(2027, 6, 7, 10, 0)),  # open now: now
        (utc(2027, 6, 6, 10, 0), SHOP, [], utc(2027, 6, 7, 6, 30)),  # Sunday: Monday morning
        (utc(2027, 6, 5, 18, 30), SHOP, [], utc(2027, 6, 5, 20, 0)),  # Saturday 20:30: 22:00
        (utc(2027, 6, 6, 10, 0), SHOP, ["2027-06-07", "2027-06-08"], utc(2027, 6, 9, 6, 30)),
        (utc(2027, 6, 6, 10, 0), None, ["2027-06-06"], utc(2027, 6, 6, 22, 0)),  # always open: next midnight
        (utc(2027, 6, 6, 10, 0), None, [], utc(2027, 6, 6, 10, 0)),
        (
            utc(2027, 6, 6, 10, 0),
            SHOP,
            [f"2027-06-{day:02}" for day in range(6, 30)],
            None,
        ),  # closed too long
    ],
)
def test_next_opening(at, hours, closures, expected):
    assert next_opening(at, hours=hours, closures=closures, timezone=PARIS) == expected


def test_next_opening_looks_as_far_as_the_lookahead():
    closures = [f"2027-06-{day:02}" for day in range(6, 6 + LOOKAHEAD_DAYS - 1)]
    found = next_opening(utc(2027, 6, 6, 10, 0), hours=SHOP, closures=closures, timezone=PARIS)
    assert found is not None and found - utc(2027, 6, 6, 10, 0) < timedelta(days=LOOKAHEAD_DAYS)


@pytest.mark.parametrize(
    ("day", "opens_utc"),
    [
        (datetime(2027, 3, 27), utc(2027, 3, 27, 7, 30)),  # Saturday before: UTC+1
        (datetime(2027, 3, 29), utc(2027, 3, 29, 6, 30)),  # Monday after the jump: UTC+2
        (datetime(2027, 10, 30), utc(2027, 10, 30, 6, 30)),  # Saturday before: UTC+2
        (datetime(2027, 11, 1), utc(2027, 11, 1, 7, 30)),  # Monday after the clocks went back: UTC+1
    ],
)
def test_a_shop_opening_at_0830_opens_at_0830_local_around_both_dst_days(day, opens_utc):
    night_before = (day - timedelta(hours=2)).replace(tzinfo=UTC)
    assert next_opening(night_before, hours=SHOP, closures=[], timezone=PARIS) == opens_utc
    assert not is_open(opens_utc - timedelta(seconds=1), hours=SHOP, closures=[], timezone=PARIS)


def test_on_the_dst_days_themselves_opening_times_stay_on_the_wall_clock():
    every_day = checked_opening_hours({"sun": [["08:30", "20:00"]]})
    spring = next_opening(utc(2027, 3, 27, 23, 0), hours=every_day, closures=[], timezone=PARIS)
    autumn = next_opening(utc(2027, 10, 30, 22, 0), hours=every_day, closures=[], timezone=PARIS)
    assert spring == utc(2027, 3, 28, 6, 30)  # 08:30 CEST
    assert autumn == utc(2027, 10, 31, 7, 30)  # 08:30 CET
    assert is_open(utc(2027, 3, 28, 17, 59), hours=every_day, closures=[], timezone=PARIS)
    assert not is_open(utc(2027, 3, 28, 18, 0), hours=every_day, closures=[], timezone=PARIS)
    assert is_open(utc(2027, 10, 31, 18, 59), hours=every_day, closures=[], timezone=PARIS)
    assert not is_open(utc(2027, 10, 31, 19, 0), hours=every_day, closures=[], timezone=PARIS)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # 2027-03-28: 01:00-05:00 local is 00:00 UTC (CET) to 03:00 UTC (CEST): three hours, not four.
        (utc(2027, 3, 27, 23, 59), False),
        (utc(2027, 3, 28, 0, 0), True),
        (utc(2027, 3, 28, 1, 0), True),  # the jump: 02:00 CET becomes 03:00 CEST
        (utc(2027, 3, 28, 2, 59), True),
        (utc(2027, 3, 28, 3, 0), False),
        # 2027-10-31: 01:00-05:00 local is 23:00 UTC (CEST) to 04:00 UTC (CET): five hours, not four.
        (utc(2027, 10, 30, 22, 59), False),
        (utc(2027, 10, 30, 23, 0), True),
        (utc(2027, 10, 31, 0, 30), True),  # 02:30 CEST
        (utc(2027, 10, 31, 1, 30), True),  # 02:30 CET, the second time
        (utc(2027, 10, 31, 3, 59), True),
        (utc(2027, 10, 31, 4, 0), False),
    ],
)
def test_a_range_across_the_jump_keeps_its_wall_times(at, expected):
    assert is_open(at, hours=NIGHT, closures=[], timezone=PARIS) is expected


def test_a_skipped_wall_time_opens_at_the_jump():
    # 02:30 does not exist on 2027-03-28 in Paris: the clocks go from 02:00 CET to 03:00 CEST at 01:00 UTC.
    opens = next_opening(utc(2027, 3, 27, 23, 0), hours=AT_0230, closures=[], timezone=PARIS)
    assert opens == utc(2027, 3, 28, 1, 0)
    assert not is_open(utc(2027, 3, 28, 0, 59, 59), hours=AT_0230, closures=[], timezone=PARIS)


def test_a_repeated_wall_time_means_its_first_occurrence_and_the_shop_stays_open():
    # 02:30 happens twice on 2027-10-31 in Paris: at 00:30 UTC (CEST) and 01:30 UTC (CET).
    opens = next_opening(utc(2027, 10, 30, 23, 0), hours=AT_0230, closures=[], timezone=PARIS)
    assert opens == utc(2027, 10, 31, 0, 30)
    # The clocks going back (02:00 CET again at 01:00 UTC) do not close it until 06:00 CET.
    assert all(
        is_open(
            utc(2027, 10, 31, 0, 30) + timedelta(minutes=minutes), hours=AT_0230, closures=[], timezone=PARIS
        )
        for minutes in range(0, 4 * 60 + 30, 15)
    )
    assert not is_open(utc(2027, 10, 31, 5, 0), hours=AT_0230, closures=[], timezone=PARIS)


def test_a_moment_without_a_timezone_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        is_open(datetime(2027, 6, 7, 10, 0), hours=SHOP, closures=[], timezone=PARIS)
    with pytest.raises(ValueError, match="timezone"):
        next_opening(datetime(2027, 6, 7, 10, 0), hours=SHOP, closures=[], timezone=PARIS)
