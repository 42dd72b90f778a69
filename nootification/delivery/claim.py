"""Claiming a batch of deliveries: one compare-and-set under a lease, then one joined read of what they need.

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
    DeliveryStatus,
    Level,
    Location,
    Severity,
    User,
)
from nootification.services.contacts import PointView, contact_points_of

CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED, DeliveryStatus.SCHEDULED)


@dataclass(frozen=True)
class ShopView:
    """The shop of an alert, as templates see it."""

    name: str
    display_name: str
    timezone: str


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
    locale: str
    level: Level
    push_address: str | None
    contact_points: tuple[PointView, ...]


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker holds under `lease`: its own fields, its alert and its recipient."""

    id: str
    channel: str
    attempts: int
    retry_round: int
    enqueue_count: int
    deadline_at: datetime | None
    lease: datetime
    alert: AlertView
    user: UserView
    # An earlier attempt's outcome is unknown (its worker died): the recipient may already have the message.
    after_unknown: bool = False


def claim(session: Session, delivery_ids: Sequence[str], *, lease_seconds: float, now: datetime) -> list[str]:
    """Take the deliveries still waiting to be sent (compare-and-set on their status); the ids taken.

    Not committed: the caller commits the claim with what it writes before sending.
    """
    if not delivery_ids:
        return []
    deliveries = Delivery.__table__
    taken = session.execute(
        sa.update(deliveries)
        .where(deliveries.c.id.in_(delivery_ids), deliveries.c.status.in_(CLAIMABLE))
        .values(
            status=DeliveryStatus.SENDING,
            lease_expires_at=lease_for(now, lease_seconds),
            updated_at=now,
        )
        .returning(deliveries.c.id)
    )
    return list(taken.scalars())


def renew(session: Session, delivery_ids: Sequence[str], *, lease: datetime, renewed: datetime) -> set[str]:
    """Move the lease of deliveries this worker still holds under `lease` to `renewed`; the ids it could.

    Not committed. The others were given away by the sweeper meanwhile: they are no longer this worker's.
    """
    if not delivery_ids:
        return set()
    deliveries = Delivery.__table__
    moved = session.execute(
        sa.update(deliveries)
        .where(
            deliveries.c.id.in_(delivery_ids),
            deliveries.c.status == DeliveryStatus.SENDING,
            deliveries.c.lease_expires_at == lease,
        )
        .values(lease_expires_at=renewed)
        .returning(deliveries.c.id)
    )
    return set(moved.scalars())


def still_held() -> tuple[sa.ColumnElement[bool], ...]:
    """Conditions for a write by the worker that claimed a delivery: it is still sending, under the same lease
    (the sweeper has not given it away). Bound per row as `held_id` and `held_lease`."""
    deliveries = Delivery.__table__
    return (
        deliveries.c.id == sa.bindparam("held_id"),
        deliveries.c.status == DeliveryStatus.SENDING,
        deliveries.c.lease_expires_at == sa.bindparam("held_lease"),
    )


def lease_for(now: datetime, lease_seconds: float) -> datetime:
    """The end of a lease taken at `now`; it also tells this claim apart from any later one."""
    return now + timedelta(seconds=lease_seconds)


def load(session: Session, delivery_ids: Sequence[str]) -> list[ClaimedDelivery]:
    """The claimed deliveries with their alert, shop, recipient and the recipient's contact points."""
    if not delivery_ids:
        return []
    d, a, s, u = Delivery.__table__, Alert.__table__, Location.__table__, User.__table__
    rows = session.execute(
        sa.select(
            d.c.id,
            d.c.channel,
            attempts_made(d.c.id).label("attempts"),
            outcome_unknown(d.c.id).label("after_unknown"),
            d.c.retry_round,
            d.c.enqueue_count,
            d.c.deadline_at,
            d.c.lease_expires_at,
            d.c.user_id,
            a.c.alert_uuid,
            a.c.url,
            a.c.label,
            a.c.severity,
            a.c.time_spotted,
            a.c.received_at,
            s.c.name.label("shop_name"),
            s.c.display_name,
            s.c.timezone,
            u.c.user_uuid,
            u.c.name.label("user_name"),
            u.c.locale,
            u.c.level,
            u.c.push_address,
        )
        .join(a, a.c.id == d.c.alert_id)
        .join(s, s.c.id == a.c.location_id)
        .join(u, u.c.id == d.c.user_id)
        .where(d.c.id.in_(delivery_ids))
    ).all()
    points = contact_points_of(session, {row.user_id for row in rows})
    return [
        ClaimedDelivery(
            id=row.id,
            channel=row.channel,
            attempts=row.attempts,
            retry_round=row.retry_round,
            enqueue_count=row.enqueue_count,
            deadline_at=row.deadline_at,
            lease=row.lease_expires_at,
            after_unknown=row.after_unknown,
            alert=AlertView(
                alert_uuid=row.alert_uuid,
                url=row.url,
                label=row.label,
                severity=row.severity,
                time_spotted=row.time_spotted,
                received_at=row.received_at,
                location=ShopView(row.shop_name, row.display_name, row.timezone),
            ),
            user=UserView(
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
