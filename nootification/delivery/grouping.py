"""Groups of alerts told as one: a burst of one label at a shop, whose first alert rings at once and whose
others are summed up when its window ends; or a closed shop's standard alerts, summed up at its opening."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, AlertGroup, GroupReason, Location

GROUPS = AlertGroup.__table__
ALERTS = Alert.__table__
# Hot paths' statements, built once (see delivery/lease.py): every alert of a grouping shop runs them.
OPEN_BURST = (
    sa.select(GROUPS.c.id, GROUPS.c.first_alert_id, GROUPS.c.closes_at)
    .where(
        GROUPS.c.location_id == sa.bindparam("location_id"),
        GROUPS.c.reason == GroupReason.BURST,
        GROUPS.c.label == sa.bindparam("label"),
        GROUPS.c.closes_at > sa.bindparam("now"),
    )
    .order_by(GROUPS.c.closes_at.desc())
    .limit(1)
)
CLOSED_UNTIL = (
    sa.select(GROUPS.c.id, GROUPS.c.first_alert_id, GROUPS.c.closes_at)
    .where(
        GROUPS.c.location_id == sa.bindparam("location_id"),
        GROUPS.c.reason == GroupReason.CLOSED,
        GROUPS.c.label.is_(None),
        GROUPS.c.closes_at == sa.bindparam("opens_at"),
    )
    .limit(1)
)
INSERT_GROUP = GROUPS.insert().returning(GROUPS.c.id)


@dataclass(frozen=True)
class OpenGroup:
    """A group still gathering alerts: its id, the alert that opened it, when it is summed up."""

    id: int
    first_alert_id: int
    closes_at: datetime


def group_window(location: Location, config: Mapping) -> int:
    """The shop's grouping window in seconds (its own, else the service's default); 0: no grouping."""
    if location.group_window_seconds is not None:
        return location.group_window_seconds
    return config["GROUP_WINDOW_SECONDS"]


def open_burst(location_id: int, label: str, now: datetime) -> OpenGroup | None:
    """The burst of this label at this shop whose window is still open at `now`, if any."""
    row = db.session.execute(OPEN_BURST, {"location_id": location_id, "label": label, "now": now}).first()
    return OpenGroup(*row) if row else None


def closed_group(location_id: int, opens_at: datetime) -> OpenGroup | None:
    """The group of the shop's standard alerts held until it opens at `opens_at`, if one was started."""
    row = db.session.execute(CLOSED_UNTIL, {"location_id": location_id, "opens_at": opens_at}).first()
    return OpenGroup(*row) if row else None


def start_group(
    alert_id: int,
    *,
    location_id: int,
    reason: GroupReason,
    label: str | None,
    now: datetime,
    closes_at: datetime,
) -> OpenGroup:
    """Open a group with this (just inserted) alert as its first, in the caller's transaction."""
    group_id = db.session.execute(
        INSERT_GROUP,
        {
            "location_id": location_id,
            "reason": reason,
            "label": label,
            "first_alert_id": alert_id,
            "opened_at": now,
            "closes_at": closes_at,
        },
    ).scalar_one()
    db.session.execute(sa.update(ALERTS).where(ALERTS.c.id == alert_id).values(group_id=group_id))
    return OpenGroup(group_id, alert_id, closes_at)


def burst_closes_at(now: datetime, window: int) -> datetime:
    """When a burst opened now is summed up."""
    return now + timedelta(seconds=window)
