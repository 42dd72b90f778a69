"""SQL that the two databases write differently: the seconds between two timestamps, and a percentile.

PostgreSQL has both (`EXTRACT(EPOCH FROM …)`, `percentile_disc(…) WITHIN GROUP (ORDER BY …)`). SQLite has
neither: it subtracts Julian days, to the millisecond its date functions keep, and gets the percentile as an
aggregate written here, registered on each of its connections (`register_sqlite_functions`). Both give the
nearest-rank percentile: the smallest value with at least that share of the values at or below it.
"""

import math
import sqlite3

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class SecondsBetween(FunctionElement):
    """The seconds from a first timestamp to a second, as a float (negative when the second is earlier)."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(SecondsBetween)
def _seconds_between(element: SecondsBetween, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS FLOAT)"


@compiles(SecondsBetween, "sqlite")
def _seconds_between_on_sqlite(element: SecondsBetween, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


class NearestRank(FunctionElement):
    """The nearest-rank percentile `pct` (0-100) of a value over a group's rows, NULLs left out; NULL when
    no row has one."""

    type = sa.Float()
    name = "nearest_rank"
    inherit_cache = True

    def __init__(self, value, pct: float):
        # The fraction is a literal column, not a bound parameter, so that it is part of the statement's
        # cache key and of its text (PostgreSQL wants the same expression in every percentile of a sort).
        super().__init__(value, sa.literal_column(repr(pct / 100)))


@compiles(NearestRank)
def _nearest_rank(element: NearestRank, compiler, **kw) -> str:
    value, fraction = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"percentile_disc({fraction}) WITHIN GROUP (ORDER BY {value})"


@compiles(NearestRank, "sqlite")
def _nearest_rank_on_sqlite(element: NearestRank, compiler, **kw) -> str:
    value, fraction = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"nearest_rank({value}, {fraction})"


class NearestRankAggregate:
    """SQLite's `nearest_rank(value, fraction)` aggregate: PostgreSQL's `percentile_disc`, NULLs ignored."""

    def __init__(self):
        self.values: list[float] = []
        self.fraction = 0.0

    def step(self, value: float | None, fraction: float) -> None:
        """Take one row's value."""
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        """The value at rank ⌈fraction × count⌉ (at least the first), or None without values."""
        if not self.values:
            return None
        self.values.sort()
        return self.values[max(0, math.ceil(self.fraction * len(self.values)) - 1)]


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Give a new SQLite connection the functions PostgreSQL has built in."""
    connection.create_aggregate("nearest_rank", 2, NearestRankAggregate)
