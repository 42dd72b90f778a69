"""Access on request (GDPR art. 15): everything the service holds about one member of staff, in one piece."""

from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from nootification.extensions import db
from nootification.models import (
    Alert,
    ApiToken,
    Delivery,
    DeliveryKind,
    EscalationTier,
    Location,
    OffHoursMember,
    OutcomeRecord,
    Shift,
    SmsReply,
    User,
    utcnow,
)
from nootification.services.directory import get_user
from nootification.services.preferences import Preference, get_preference


@dataclass(frozen=True)
class TierMembership:
    """A shop whose unclaimed critical alerts reach the user at this tier."""

    location: str
    tier: int


@dataclass(frozen=True)
class ShiftOf:
    """One of the user's shifts at a shop, in UTC."""

    location: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class ToldOf:
    """An alert the user was sent, with their own deliveries of it."""

    alert: Alert
    deliveries: list[Delivery]


@dataclass(frozen=True)
class PersonalData:
    """What the service holds about a user: their row, shops, contact points, preference, shifts, tokens, the
    alerts they were told of, the shops whose off-hours tier they are in, the notices they were sent, the SMS
    they answered with, the alerts they claimed or recorded an outcome for, and every outcome record they made
    (corrected ones too)."""

    user: User
    preference: Preference
    escalation: list[TierMembership]
    off_hours: list[str]
    shifts: list[ShiftOf]
    tokens: list[ApiToken]
    alerts: list[ToldOf]
    notices: list[Delivery]
    sms_replies: list[SmsReply]
    claims: list[Alert]
    outcomes: list[Alert]
    outcome_records: list[OutcomeRecord]
    exported_at: datetime


def _alerts_where(condition: sa.ColumnElement) -> list[Alert]:
    query = sa.select(Alert).options(selectinload(Alert.location)).where(condition)
    return list(db.session.scalars(query.order_by(Alert.received_at)))


def _told_of(user: User) -> list[ToldOf]:
    deliveries = db.session.scalars(
        sa.select(Delivery)
        .join(Alert, Alert.id == Delivery.alert_id)
        .options(selectinload(Delivery.alert).selectinload(Alert.location))
        .where(Delivery.user_id == user.id, Delivery.kind == DeliveryKind.ALERT)
        .order_by(Alert.received_at, Alert.id, Delivery.created_at)
    )
    by_alert = groupby(deliveries, key=lambda delivery: delivery.alert)
    return [ToldOf(alert, list(of_alert)) for alert, of_alert in by_alert]


def export_user(user_uuid: str) -> PersonalData:
    """Everything held about the user with this uuid (404 unknown); erased users too, with what is left."""
    user = get_user(user_uuid)
    tiers = db.session.execute(
        sa.select(Location.name, EscalationTier.tier)
        .join(Location, Location.id == EscalationTier.location_id)
        .where(EscalationTier.user_id == user.id)
        .order_by(Location.name)
    )
    off_hours = db.session.scalars(
        sa.select(Location.name)
        .join(OffHoursMember, OffHoursMember.location_id == Location.id)
        .where(OffHoursMember.user_id == user.id)
        .order_by(Location.name)
    )
    shifts = db.session.execute(
        sa.select(Location.name, Shift.starts_at, Shift.ends_at)
        .join(Location, Location.id == Shift.location_id)
        .where(Shift.user_id == user.id)
        .order_by(Shift.starts_at, Location.name)
    )
    tokens = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    return PersonalData(
        user=user,
        preference=get_preference(user_uuid),
        escalation=[TierMembership(name, tier) for name, tier in tiers],
        off_hours=list(off_hours),
        shifts=[ShiftOf(*row) for row in shifts],
        tokens=list(tokens),
        alerts=_told_of(user),
        notices=list(
            db.session.scalars(
                sa.select(Delivery)
                .options(selectinload(Delivery.alert))
                .where(Delivery.user_id == user.id, Delivery.kind != DeliveryKind.ALERT)
                .order_by(Delivery.created_at, Delivery.id)
            )
        ),
        sms_replies=list(
            db.session.scalars(
                sa.select(SmsReply)
                .options(selectinload(SmsReply.alert))
                .where(SmsReply.user_id == user.id)
                .order_by(SmsReply.received_at, SmsReply.id)
            )
        ),
        claims=_alerts_where(Alert.claimed_by_id == user.id),
        outcomes=_alerts_where(Alert.outcome_by_id == user.id),
        outcome_records=list(
            db.session.scalars(
                sa.select(OutcomeRecord)
                .options(selectinload(OutcomeRecord.alert))
                .where(OutcomeRecord.user_id == user.id)
                .order_by(OutcomeRecord.id)
            )
        ),
        exported_at=utcnow(),
    )
