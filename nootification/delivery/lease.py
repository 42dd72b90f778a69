"""Leasing a batch of deliveries: one compare-and-set under a lease, then one joined read of what they need.

What is read is plain data (frozen dataclasses), not ORM objects: a worker handles many deliveries a second
and needs none of the ORM's bookkeeping for them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nootification.models import (
    Alert,
    AttemptOutcomeKind,
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    Level,
    Location,
    Severity,
    User,
)
from nootification.services.contacts import PointView, contact_points_of

LEASABLE = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED, DeliveryStatus.SCHEDULED)


@dataclass(frozen=True)
class ShopView:
    """The shop of an alert, as templates see it."""

    name: str
    display_name: str
    timezone: str
    locale: str = "en"


@dataclass(frozen=True)
class AlertView:
    """An alert, as a message about it needs it."""

    alert_uuid: str
    url: str
    label: str
    severity: Severity
    time_spotted: datetime
    received_at: datetime
    location: ShopView


@dataclass(frozen=True)
class UserView:
    """A recipient: what routing to a contact point and rendering a template read of a user."""

    user_uuid: str
    name: str
    # Their own language; None: their shop's (nootification.i18n.locale_for).
    locale: str | None
    level: Level
    push_address: str | None
    contact_points: tuple[PointView, ...]


@dataclass(frozen=True)
class LeasedDelivery:
    """A delivery this worker holds under `lease`: its own fields, its alert and its recipient."""

    id: str
    channel: str
    attempts: int
    retry_round: int
    enqueue_count: int
    deadline_at: datetime | None
    lease: datetime
    # None where the kind has none: a vendor event has no user, a device notice no alert.
    alert: AlertView | None
    user: UserView | None
    # An earlier attempt's outcome is unknown (its worker died): the recipient may already have the message.
    after_unknown: bool = False
    # On a device channel, the device's contact point; 0 elsewhere.
    contact_point_id: int = 0
    kind: DeliveryKind = DeliveryKind.ALERT
    alert_id: int | None = None
    user_id: int | None = None
    # Its step of the shop's ladder, and the ladder's last step (0: no ladder, or its first step).
    ladder_step: int = 0
    last_ladder_step: int = 0


def outcome_unknown(delivery_id) -> sa.Exists:
    """Whether the ledger holds an attempt of the delivery whose outcome is unknown."""
    attempts = DeliveryAttempt.__table__
    return sa.exists().where(
        attempts.c.delivery_id == delivery_id, attempts.c.outcome == AttemptOutcomeKind.UNKNOWN
    )


def attempts_made(delivery_id) -> sa.ScalarSelect:
    """The attempts the ledger holds for a delivery, those whose outcome is unknown included."""
    attempts = DeliveryAttempt.__table__
    return (
        sa.select(sa.func.coalesce(sa.func.max(attempts.c.number), 0))
        .where(attempts.c.delivery_id == delivery_id)
        .scalar_subquery()
    )


# The statements of every batch, built once, as every hot path's are (each alert's, each batch's): building
# and keying a statement costs more than running it, and an expanding parameter spares coercing each id.
_DELIVERIES, _ALERTS = Delivery.__table__, Alert.__table__
_SHOPS, _USERS = Location.__table__, User.__table__
_BATCH = sa.bindparam("ids", expanding=True)

TAKE = (
    sa.update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(_BATCH), _DELIVERIES.c.status.in_(LEASABLE))
    .values(
        status=DeliveryStatus.SENDING,
        lease_expires_at=sa.bindparam("c_lease"),
        updated_at=sa.bindparam("c_now"),
    )
    .returning(_DELIVERIES.c.id)
)

RENEW = (
    sa.update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id.in_(_BATCH),
        _DELIVERIES.c.status == DeliveryStatus.SENDING,
        _DELIVERIES.c.lease_expires_at == sa.bindparam("r_lease"),
    )
    .values(lease_expires_at=sa.bindparam("r_renewed"))
    .returning(_DELIVERIES.c.id)
)

LOAD = (
    sa.select(
        _DELIVERIES.c.id,
        _DELIVERIES.c.kind,
        _DELIVERIES.c.alert_id,
        _DELIVERIES.c.channel,
        _DELIVERIES.c.contact_point_id,
        attempts_made(_DELIVERIES.c.id).label("attempts"),
        outcome_unknown(_DELIVERIES.c.id).label("after_unknown"),
        _DELIVERIES.c.retry_round,
        _DELIVERIES.c.enqueue_count,
        _DELIVERIES.c.deadline_at,
        _DELIVERIES.c.lease_expires_at,
        _DELIVERIES.c.user_id,
        _DELIVERIES.c.ladder_step,
        _ALERTS.c.alert_uuid,
        _ALERTS.c.url,
        _ALERTS.c.label,
        _ALERTS.c.severity,
        _ALERTS.c.time_spotted,
        _ALERTS.c.received_at,
        _SHOPS.c.name.label("shop_name"),
        _SHOPS.c.display_name,
        _SHOPS.c.timezone,
        _SHOPS.c.ladder,
        _SHOPS.c.locale.label("shop_locale"),
        _USERS.c.user_uuid,
        _USERS.c.name.label("user_name"),
        _USERS.c.locale,
        _USERS.c.level,
        _USERS.c.push_address,
    )
    .outerjoin(_ALERTS, _ALERTS.c.id == _DELIVERIES.c.alert_id)
    .outerjoin(_SHOPS, _SHOPS.c.id == _ALERTS.c.location_id)
    .outerjoin(_USERS, _USERS.c.id == _DELIVERIES.c.user_id)
    .where(_DELIVERIES.c.id.in_(_BATCH))
)


def take(session: Session, delivery_ids: Sequence[str], *, lease_seconds: float, now: datetime) -> list[str]:
    """Take the deliveries still waiting to be sent (compare-and-set on their status); the ids taken.

    Not committed: the caller commits the lease with what it writes before sending.
    """
    if not delivery_ids:
        return []
    taken = session.execute(
        TAKE, {"ids": list(delivery_ids), "c_lease": lease_for(now, lease_seconds), "c_now": now}
    )
    return list(taken.scalars())


def renew(session: Session, delivery_ids: Sequence[str], *, lease: datetime, renewed: datetime) -> set[str]:
    """Move the lease of deliveries this worker still holds under `lease` to `renewed`; the ids it could.

    Not committed. The others were given away by the sweeper meanwhile: they are no longer this worker's.
    """
    if not delivery_ids:
        return set()
    moved = session.execute(RENEW, {"ids": list(delivery_ids), "r_lease": lease, "r_renewed": renewed})
    return set(moved.scalars())


def still_held() -> tuple[sa.ColumnElement[bool], ...]:
    """Conditions for a write by the worker that leased a delivery: it is still sending, under the same lease
    (the sweeper has not given it away). Bound per row as `held_id` and `held_lease`."""
    deliveries = Delivery.__table__
    return (
        deliveries.c.id == sa.bindparam("held_id"),
        deliveries.c.status == DeliveryStatus.SENDING,
        deliveries.c.lease_expires_at == sa.bindparam("held_lease"),
    )


def lease_for(now: datetime, lease_seconds: float) -> datetime:
    """The end of a lease taken at `now`; it also tells this lease apart from any later one."""
    return now + timedelta(seconds=lease_seconds)


def load(session: Session, delivery_ids: Sequence[str]) -> list[LeasedDelivery]:
    """The leased deliveries with their alert, shop, recipient and the recipient's contact points."""
    if not delivery_ids:
        return []
    rows = session.execute(LOAD, {"ids": list(delivery_ids)}).all()
    points = contact_points_of(session, {row.user_id for row in rows if row.user_id is not None})
    return [
        LeasedDelivery(
            id=row.id,
            channel=row.channel,
            attempts=row.attempts,
            retry_round=row.retry_round,
            enqueue_count=row.enqueue_count,
            deadline_at=row.deadline_at,
            lease=row.lease_expires_at,
            after_unknown=row.after_unknown,
            contact_point_id=row.contact_point_id,
            kind=row.kind,
            alert_id=row.alert_id,
            user_id=row.user_id,
            ladder_step=row.ladder_step,
            last_ladder_step=max(len(row.ladder or ()) - 1, 0),
            alert=None
            if row.alert_id is None
            else AlertView(
                alert_uuid=row.alert_uuid,
                url=row.url,
                label=row.label,
                severity=row.severity,
                time_spotted=row.time_spotted,
                received_at=row.received_at,
                location=ShopView(row.shop_name, row.display_name, row.timezone, row.shop_locale),
            ),
            user=None
            if row.user_id is None
            else UserView(
                user_uuid=row.user_uuid,
                name=row.user_name,
                locale=row.locale,
                level=row.level,
                push_address=row.push_address,
                contact_points=points.get(row.user_id, ()),
            ),
        )
        for row in rows
    ]
