"""Closing the loop with the staff: "I'm on it" (the first claim wins), then what really happened.

Only staff of the alert's shop (or of its escalation tiers) may claim it or record its outcome; a claim stops
the alert's escalation, and a claim or an outcome cancels its ladder's later steps and calls still to come. An
outcome recorded on an alert nobody
has claimed claims it for the same person: whoever found out what happened was on it. Once recorded, an
outcome is changed only by whoever recorded it or by an admin; each record is kept, so a correction leaves the
earlier value in the alert's history.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from nootification.delivery.ladder import cancel_later_steps
from nootification.delivery.outbox import QueuedJob
from nootification.errors import Conflict, Forbidden, Gone, NotFound
from nootification.extensions import db
from nootification.i18n import mark as _
from nootification.models import (
    UNNAMED_STAFF,
    Alert,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    EscalationTier,
    GroupReason,
    OffHoursMember,
    Outcome,
    OutcomeRecord,
    User,
    user_locations,
    utcnow,
)
from nootification.observability import metrics
from nootification.services.staff_links import scope_of_link
from nootification.staff import claim_notices
from nootification.staff.vendor_events import add_event, queue_events

ALERTS = Alert.__table__
ADMIN_AUTHOR = _("An administrator")
SOMEONE_IS_ON_IT = "not needed: someone is on the alert"


@dataclass(frozen=True)
class ToldPerson:
    """Someone an alert was sent to: their name, the channels tried, and whether any of them got through."""

    user_uuid: str
    name: str
    channels: tuple[str, ...]
    reached: bool


@dataclass(frozen=True)
class ClaimState:
    """Where an alert stands for its staff: who is on it, what happened, and who was told."""

    alert_uuid: str
    claimed_by: str | None
    claimed_by_user_uuid: str | None
    claimed_by_you: bool
    claimed_at: datetime | None
    outcome: Outcome | None
    value_recovered: float | None
    note: str | None
    outcome_by: str | None
    outcome_at: datetime | None
    told: list[ToldPerson]


def staff_alert(alert_uuid: str, user_uuid: str) -> tuple[Alert, User]:
    """The alert and the user, provided the user is staff of the alert's shop; 404 or 403 otherwise."""
    user = db.session.scalar(sa.select(User).where(User.user_uuid == user_uuid))
    if user is None:
        raise NotFound("No such member of staff.", field="user")
    return alert_for_staff(alert_uuid, user), user


def staff_alert_of_link(link: str) -> tuple[Alert, User]:
    """The alert and the member of staff a staff link stands for; 404 forged, 410 expired or past the
    clip's retention, 403 no longer staff of the shop."""
    scope = scope_of_link(link)
    alert, user = staff_alert(scope.alert_uuid, scope.user_uuid)
    if alert.clip_removed_at is not None:
        raise Gone(_("This alert is past its retention: its clip and its links are gone."), field="link")
    return alert, user


def alert_for_staff(alert_uuid: str, user: User) -> Alert:
    """The alert, provided the user is staff of its shop; 404 when unknown, 403 when another shop's."""
    alert = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == alert_uuid))
    if alert is None:
        raise NotFound("No alert with this uuid.", field="alert_uuid")
    ensure_staff_of_shop(alert, user)
    return alert


def ensure_staff_of_shop(alert: Alert, user: User) -> None:
    """403 unless the user works at the alert's shop or is in one of its escalation tiers or its off-hours
    tier: nobody touches another shop's alerts."""
    attached = sa.select(user_locations.c.user_id).where(
        user_locations.c.user_id == user.id, user_locations.c.location_id == alert.location_id
    )
    in_a_tier = sa.select(EscalationTier.user_id).where(
        EscalationTier.user_id == user.id, EscalationTier.location_id == alert.location_id
    )
    off_hours = sa.select(OffHoursMember.user_id).where(
        OffHoursMember.user_id == user.id, OffHoursMember.location_id == alert.location_id
    )
    if db.session.scalar(sa.select(sa.exists(attached.union_all(in_a_tier, off_hours).subquery()))):
        return
    raise Forbidden("This alert belongs to a shop this member of staff does not work at.", field="alert")


def claim(alert: Alert, user: User, now: datetime | None = None) -> bool:
    """Claim the alert for the user; whether this call took it (False: the user already held it).

    A compare-and-set on the alert: of two claims at once, one wins. Claiming again is harmless for the
    holder; anyone else gets 409 naming who is on it.
    """
    now = now or utcnow()
    taken = db.session.execute(
        sa.update(ALERTS)
        .where(ALERTS.c.id == alert.id, ALERTS.c.claimed_by_id.is_(None))
        .values(claimed_by_id=user.id, claimed_at=now, next_escalation_at=None)
    ).rowcount
    notices = claim_notices.add_notices(alert, user.id, now) if taken else []
    if taken:
        cancel_later_steps(alert.id, SOMEONE_IS_ON_IT)
        notices += claim_rest_of_group(alert, user.id, now)
    db.session.commit()
    db.session.refresh(alert)
    if taken:
        metrics.record_claim(alert.label, alert.severity.value, alert.received_at, alert.claimed_at)
        claim_notices.queue_notices(notices)
        return True
    if alert.claimed_by_id == user.id:
        return False
    holder = alert.claimed_by.shown_name if alert.claimed_by else "Someone"
    raise Conflict(f"{holder} is already on it.", field="alert")


def claim_rest_of_group(alert: Alert, user_id: int, now: datetime) -> list[QueuedJob]:
    """Claim, in the caller's transaction, the alerts of the alert's burst nobody is on yet (claiming one
    claims the burst; a closed shop's group gathers unrelated alerts, each claimed alone): their escalation
    and later steps stop, and their others are told; the notices' jobs, to queue after the commit. Each
    alert keeps its own outcome."""
    if alert.group is None or alert.group.reason is not GroupReason.BURST:
        return []
    rest = db.session.scalars(
        sa.update(ALERTS)
        .where(ALERTS.c.group_id == alert.group_id, ALERTS.c.id != alert.id, ALERTS.c.claimed_by_id.is_(None))
        .values(claimed_by_id=user_id, claimed_at=now, next_escalation_at=None)
        .returning(ALERTS.c.id)
    ).all()
    notices: list[QueuedJob] = []
    for other in db.session.scalars(sa.select(Alert).where(Alert.id.in_(rest))):
        cancel_later_steps(other.id, SOMEONE_IS_ON_IT)
        notices += claim_notices.add_notices(other, user_id, now)
    return notices


def record_outcome(
    alert: Alert,
    user: User | None,
    *,
    outcome: Outcome,
    value_recovered: float | None = None,
    note: str | None = None,
    admin: bool = False,
    token_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Record what happened, keeping each record in the alert's history; an unclaimed alert is claimed by the
    same person. An outcome someone else recorded is changed only by an admin: 409 naming who recorded it.
    With a vendor URL set, the outcome is also an event for the camera vendor, in the same transaction.

    `user` is the member of staff recording it, or None for an admin token that is nobody's (only with
    `admin`); `token_id` is the bearer token it came with, if any.
    """
    now = now or utcnow()
    mine = ALERTS.c.id == alert.id
    if not admin:
        # A compare-and-set, like a claim: of a correction and someone else's first record at once, one wins.
        mine = mine & sa.or_(ALERTS.c.outcome.is_(None), ALERTS.c.outcome_by_id == user.id)
    value_cents = None if value_recovered is None else round(value_recovered * 100)
    recorded = db.session.execute(
        sa.update(ALERTS)
        .where(mine)
        .values(
            outcome=outcome,
            outcome_value_cents=value_cents,
            outcome_note=note or None,
            outcome_by_id=user.id if user else None,
            outcome_at=now,
            next_escalation_at=None,
        )
    ).rowcount
    if not recorded:
        db.session.rollback()
        raise Conflict(
            f"{outcome_author(alert)} already recorded what happened: only they or an admin may change it.",
            field="outcome",
        )
    claimed = 0
    if user is not None:
        claimed = db.session.execute(
            sa.update(ALERTS)
            .where(ALERTS.c.id == alert.id, ALERTS.c.claimed_by_id.is_(None))
            .values(claimed_by_id=user.id, claimed_at=now)
        ).rowcount
    db.session.add(
        OutcomeRecord(
            alert_id=alert.id,
            user_id=user.id if user else None,
            token_id=token_id,
            outcome=outcome,
            value_cents=value_cents,
            note=note or None,
            recorded_at=now,
        )
    )
    event = add_event(alert.id, now)
    notices = claim_notices.add_notices(alert, user.id, now) if claimed else []
    if claimed:
        notices += claim_rest_of_group(alert, user.id, now)
    cancel_later_steps(alert.id, SOMEONE_IS_ON_IT)
    db.session.commit()
    db.session.refresh(alert)
    queue_events([event] if event is not None else [])
    if claimed:
        metrics.record_claim(alert.label, alert.severity.value, alert.received_at, now)
        claim_notices.queue_notices(notices)
    metrics.record_outcome(alert.label, outcome.value)


def outcome_author(alert: Alert) -> str:
    """Who recorded the alert's outcome as it stands, by name: a member of staff, or an administrator."""
    latest = db.session.scalar(
        sa.select(OutcomeRecord)
        .where(OutcomeRecord.alert_id == alert.id)
        .order_by(OutcomeRecord.id.desc())
        .limit(1)
    )
    if latest is not None and latest.user is not None:
        return latest.user.shown_name
    if latest is not None and latest.token_id is not None:
        return ADMIN_AUTHOR
    return UNNAMED_STAFF


def told_about(alert: Alert) -> list[ToldPerson]:
    """Everyone the alert was sent to, with the channels and whether one got through, by name."""
    rows = db.session.execute(
        sa.select(User.user_uuid, User.name, Delivery.channel, Delivery.status)
        .join(Delivery, Delivery.user_id == User.id)
        .where(Delivery.alert_id == alert.id, Delivery.kind == DeliveryKind.ALERT)
        .order_by(User.name, User.id, Delivery.channel)
    )
    people: dict[str, ToldPerson] = {}
    for row in rows:
        known = people.get(row.user_uuid)
        channels = (*known.channels, row.channel) if known else (row.channel,)
        reached = (known.reached if known else False) or row.status is DeliveryStatus.SENT
        people[row.user_uuid] = ToldPerson(row.user_uuid, row.name or UNNAMED_STAFF, channels, reached)
    return list(people.values())


def claim_state(alert: Alert, viewer: User | None = None) -> ClaimState:
    """Where the alert stands now, as `viewer` sees it (whether they are the one on it)."""
    cents = alert.outcome_value_cents
    outcome_by = None
    if alert.outcome is not None:
        outcome_by = alert.outcome_by.shown_name if alert.outcome_by else outcome_author(alert)
    return ClaimState(
        alert_uuid=alert.alert_uuid,
        claimed_by=alert.claimed_by.shown_name if alert.claimed_by else None,
        claimed_by_user_uuid=alert.claimed_by.user_uuid if alert.claimed_by else None,
        claimed_by_you=viewer is not None and alert.claimed_by_id == viewer.id,
        claimed_at=alert.claimed_at,
        outcome=alert.outcome,
        value_recovered=None if cents is None else cents / 100,
        note=alert.outcome_note,
        outcome_by=outcome_by,
        outcome_at=alert.outcome_at,
        told=told_about(alert),
    )
