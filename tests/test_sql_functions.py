"""The SQL both databases are given alike: seconds between timestamps, nearest-rank percentiles."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nootification.extensions import db as _db
from nootification.models import UTCDateTime
from nootification.sql_functions import NearestRank, SecondsBetween


def values_of(values: list[float]) -> sa.Subquery:
    """The values as the rows of a subquery with one column, `v` (no rows for none)."""
    if not values:
        return sa.select(sa.literal(0.0, sa.Float).label("v")).where(sa.false()).subquery()
    return sa.union_all(*(sa.select(sa.literal(value, sa.Float).label("v")) for value in values)).subquery()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (None, None, None)),
        ([7.0], (7.0, 7.0, 7.0)),
        ([1.0, 2.0, 3.0, 4.0], (2.0, 4.0, 4.0)),
        ([float(n) for n in range(1, 101)], (50.0, 95.0, 99.0)),
        ([float(n) for n in range(1, 201)], (100.0, 190.0, 198.0)),
        ([3.0, None, 1.0, None, 2.0], (2.0, 3.0, 3.0)),
    ],
)
def test_percentiles_are_nearest_rank_with_nulls_left_out(db, values, expected):
    rows = values_of(list(reversed(values)))
    query = sa.select(*(NearestRank(rows.c.v, pct) for pct in (50, 95, 99)))
    assert tuple(_db.session.execute(query).one()) == expected


def test_percentiles_by_group(db):
    rows = sa.union_all(
        *(
            sa.select(sa.literal(g).label("g"), sa.literal(float(v), sa.Float).label("v"))
            for g, v in [("a", 1), ("a", 9), ("a", 5), ("b", 4)]
        )
    ).subquery()
    query = sa.select(rows.c.g, NearestRank(rows.c.v, 50)).group_by(rows.c.g).order_by(rows.c.g)
    assert [tuple(row) for row in _db.session.execute(query)] == [("a", 5.0), ("b", 4.0)]


@pytest.mark.parametrize("seconds", [0.0, 1.5, 0.25, 86_400 + 0.125, -2.0])
def test_seconds_between_two_stored_timestamps(db, seconds):
    start = datetime(2026, 12, 7, 21, 0, 0, 500_000, tzinfo=UTC)
    stamps = sa.table("stamps", sa.column("start", UTCDateTime()), sa.column("end", UTCDateTime()))
    _db.session.execute(
        sa.text(
            'CREATE TEMPORARY TABLE stamps (start TIMESTAMP WITH TIME ZONE, "end" TIMESTAMP WITH TIME ZONE)'
        )
    )
    _db.session.execute(sa.insert(stamps).values(start=start, end=start + timedelta(seconds=seconds)))
    between = _db.session.execute(sa.select(SecondsBetween(stamps.c.start, stamps.c.end))).scalar_one()
    assert between == pytest.approx(seconds, abs=1e-6)
    assert _db.session.execute(sa.select(SecondsBetween(stamps.c.start, None))).scalar_one() is None
    _db.session.rollback()
