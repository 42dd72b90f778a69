"""The fallback ladder of a shop's critical alerts: the first step's channels at once, each later step's after
its wait, to each person told who has not acted yet.

A later step is a `scheduled` delivery due `after_seconds` after the alert was received (after the person was
told, for an escalation tier), which the engine's loop queues when due: the ladder lives in the database, so a
killed worker or scheduler changes nothing. A claim or an outcome cancels every later step still waiting, for
everyone; a person opening the alert (a `seen` receipt, the staff page) cancels theirs; the engine checks both
again when it takes a step (`not_needed`), and never places a call once someone is on the alert. An SMS the
provider reports undelivered or failed brings that person's next step forward to now.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from nootification.delivery.lease import LeasedDelivery
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind, DeliveryStatus, Severity
from nootification.observability import metrics
from nootification.senders.base import SendError
from nootification.senders.registry import channels_that

ALERTS = Alert.__table__
DELIVERIES = Delivery.__table__
# A later step not yet taken by the engine: waiting for its time, or due and queued.
WAITING = (DeliveryStatus.SCHEDULED, DeliveryStatus.QUEUED, DeliveryStatus.PENDING)


@dataclass(frozen=True)
class Step:
    """One rung: after so many seconds, these channels."""

    after_seconds: float
    channels: tuple[str, ...]


def steps_of(ladder: Sequence[Mapping] | None) -> list[Step]:
    """The steps of a shop's stored ladder (none when it has no ladder)."""
    return [Step(float(step["after_seconds"]), tuple(step["channels"])) for step in ladder or ()]


def follows_ladder(severity: Severity, ladder: Sequence[Mapping] | None) -> bool:
    """Whether an alert of this severity in a shop with this ladder climbs it: critical alerts only."""
    return severity is Severity.CRITICAL and bool(ladder)


def ladder_channels(ladder: Sequence[Mapping]) -> frozenset[str]:
    """Every channel some step of the ladder uses."""
    return frozenset(channel for step in steps_of(ladder) for channel in step.channels)


def place_on_ladder(
    rows: list[dict], channels: Sequence[str], ladder: Sequence[Mapping], start: datetime
) -> None:
    """Give each queued delivery row (of `channels[i]`) its step: a later one waits, `scheduled`, until
    `start` + its wait, unqueued."""
    step_of = {channel: number for number, step in enumerate(steps_of(ladder)) for channel in step.channels}
    steps = steps_of(ladder)
    for row, channel in zip(rows, channels, strict=True):
        number = step_of[channel]
        row["ladder_step"] = number
        if number > 0:
            row.update(
                status=DeliveryStatus.SCHEDULED,
                queued_at=None,
                enqueue_count=0,
                next_attempt_at=start + timedelta(seconds=steps[number].after_seconds),
            )


def cancel_later_steps(alert_id: int, reason: str, *, user_id: int | None = None) -> int:
    """Cancel the alert's later steps still waiting (one person's, or everyone's) and any call not yet placed,
    in the caller's transaction; how many."""
    later = DELIVERIES.c.ladder_step > 0
    rings = channels_that("rings")
    if user_id is None and rings:
        later = later | DELIVERIES.c.channel.in_(rings)
    condition = [
        DELIVERIES.c.alert_id == alert_id,
        DELIVERIES.c.kind == DeliveryKind.ALERT,
        DELIVERIES.c.status.in_(WAITING),
        later,
    ]
    if user_id is not None:
        condition.append(DELIVERIES.c.user_id == user_id)
    cancelled = db.session.execute(
        sa.update(DELIVERIES)
        .where(*condition)
        .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=reason)
    ).rowcount
    if cancelled:
        metrics.record_ladder_cancelled(cancelled)
    return cancelled


def hurry_next_step(delivery_id: str, now: datetime) -> int:
    """After the provider said an SMS did not arrive: bring that person's next waiting step of the alert
    forward to now, in the caller's transaction; how many deliveries it moved."""
    failed = db.session.execute(
        sa.select(DELIVERIES.c.alert_id, DELIVERIES.c.user_id, DELIVERIES.c.ladder_step).where(
            DELIVERIES.c.id == delivery_id, DELIVERIES.c.kind == DeliveryKind.ALERT
        )
    ).first()
    if failed is None or failed.alert_id is None:
        return 0
    mine = (
        DELIVERIES.c.alert_id == failed.alert_id,
        DELIVERIES.c.user_id == failed.user_id,
        DELIVERIES.c.kind == DeliveryKind.ALERT,
        DELIVERIES.c.status == DeliveryStatus.SCHEDULED,
        DELIVERIES.c.ladder_step > failed.ladder_step,
    )
    next_step = db.session.scalar(sa.select(sa.func.min(DELIVERIES.c.ladder_step)).where(*mine))
    if next_step is None:
        return 0
    return db.session.execute(
        sa.update(DELIVERIES)
        .where(*mine, DELIVERIES.c.ladder_step == next_step, DELIVERIES.c.next_attempt_at > now)
        .values(next_attempt_at=now)
    ).rowcount


@dataclass(frozen=True)
class Candidate:
    """A leased alert delivery the engine must check before sending: a later step, or a call."""

    delivery_id: str
    alert_id: int
    user_id: int
    ladder_step: int


def not_needed(session: Session, candidates: Sequence[Candidate]) -> dict[str, str]:
    """Of these deliveries, those nobody needs any more, with why: the alert was claimed or has an outcome
    (a later step, a call), or the person opened it (a later step)."""
    if not candidates:
        return {}
    alert_ids = {candidate.alert_id for candidate in candidates}
    acted = set(
        session.scalars(
            sa.select(ALERTS.c.id).where(
                ALERTS.c.id.in_(alert_ids),
                sa.or_(ALERTS.c.claimed_by_id.is_not(None), ALERTS.c.outcome.is_not(None)),
            )
        )
    )
    opened = {
        (row.alert_id, row.user_id)
        for row in session.execute(
            sa.select(DELIVERIES.c.alert_id, DELIVERIES.c.user_id)
            .where(
                DELIVERIES.c.alert_id.in_(alert_ids),
                DELIVERIES.c.kind == DeliveryKind.ALERT,
                DELIVERIES.c.seen_at.is_not(None),
            )
            .distinct()
        )
    }
    reasons: dict[str, str] = {}
    for candidate in candidates:
        if candidate.alert_id in acted:
            reasons[candidate.delivery_id] = "not needed: someone is on the alert"
        elif candidate.ladder_step > 0 and (candidate.alert_id, candidate.user_id) in opened:
            reasons[candidate.delivery_id] = "not needed: they opened the alert"
    return reasons


class NotNeededError(SendError):
    """Nobody needs the record any more: someone acted on the alert while its later step (or call) was being
    tried, or on every alert a summary would tell of. It ends cancelled, unsent."""


def not_needed_now(engine: Engine, delivery: LeasedDelivery, rings: bool) -> str | None:
    """Why a delivery a slot is about to try again is no longer needed (a later step, or a call, of an alert
    someone acted on meanwhile), else None; read on a connection of its own (the slot's thread)."""
    if delivery.kind is not DeliveryKind.ALERT or delivery.alert_id is None:
        return None
    if delivery.ladder_step == 0 and not rings:
        return None
    candidate = Candidate(delivery.id, delivery.alert_id, delivery.user_id, delivery.ladder_step)
    with Session(engine) as session:
        return not_needed(session, [candidate]).get(delivery.id)


def note_steps_reached(session: Session, going: Sequence[LeasedDelivery], now: datetime) -> None:
    """Keep, for each alert of these deliveries about to go, the highest step of its ladder that went out,
    and when (a compare-and-set: the first delivery of a step sets it); an alert at its last step is counted.

    Its own transaction, the alerts in the order of their ids: it locks only alert rows, always in one
    order, so it never deadlocks with a claim (an alert, then its deliveries) nor with another engine.
    """
    highest: dict[int, LeasedDelivery] = {}
    for delivery in going:
        if delivery.ladder_step > 0 and delivery.alert_id is not None:
            known = highest.get(delivery.alert_id)
            if known is None or delivery.ladder_step > known.ladder_step:
                highest[delivery.alert_id] = delivery
    if not highest:
        return
    raised = []
    for alert_id in sorted(highest):
        delivery = highest[alert_id]
        taken = session.execute(
            sa.update(ALERTS)
            .where(ALERTS.c.id == alert_id, ALERTS.c.ladder_step < delivery.ladder_step)
            .values(ladder_step=delivery.ladder_step, ladder_step_at=now)
        ).rowcount
        if taken:
            raised.append(delivery)
    session.commit()
    for delivery in raised:
        metrics.record_ladder_step(
            delivery.ladder_step, last=delivery.ladder_step == delivery.last_ladder_step
        )
