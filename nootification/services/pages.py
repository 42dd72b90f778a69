"""One page of a list read from the database, newest first, with how many rows match in all.

The count stops at `TOTAL_LIMIT`: past it, `total` says "at least this many" (`total_exact` false). A list
filtered only by status, say the dead letters of a year, would otherwise count hundreds of thousands of rows
on each page it serves, when the page itself reads fifty.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from nootification.extensions import db

TOTAL_LIMIT = 1_000


@dataclass(frozen=True)
class Page:
    """One page of a filtered list: its rows, the count of every matching row (up to `TOTAL_LIMIT`), and
    whether that count is all of them."""

    items: list[Any]
    total: int
    total_exact: bool
    page: int
    page_size: int


def read_page(
    model: type, conditions: list, order_by: list, *, page: int, page_size: int, options: Sequence = ()
) -> Page:
    """The rows of `model` matching every condition, in `order_by`'s order, page `page` of `page_size`,
    with the loader `options` that fetch what their answer shows."""
    matching = sa.select(sa.literal_column("1")).select_from(model).where(*conditions).limit(TOTAL_LIMIT + 1)
    counted = db.session.scalar(sa.select(sa.func.count()).select_from(matching.subquery()))
    items = db.session.scalars(
        sa.select(model)
        .options(*options)
        .where(*conditions)
        .order_by(*order_by)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return Page(
        items=list(items),
        total=min(counted, TOTAL_LIMIT),
        total_exact=counted <= TOTAL_LIMIT,
        page=page,
        page_size=page_size,
    )
