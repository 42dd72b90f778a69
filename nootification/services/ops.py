"""The ops page's feed: the latest alerts with their deliveries, claims, escalation steps and outcomes,
watched for changes by reading the database.

Polling rather than a publication from the workers: every change of a delivery, every claim, step and outcome
is committed to the database by whichever process made it (worker, sweeper, API, staff page), so reading the
database misses none and needs nothing added to the delivery path.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from nootification.extensions import db
from nootification.models import (
    Alert,
    AlertEscalation,
    AlertGroup,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    GroupReason,
    Outcome,
    Severity,
    User,
)


@dataclass(frozen=True)
class DeliveryState:
    """One delivery as the page shows it."""

    id: str
    channel: str
    user: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    updated_at: datetime
    escalation_step: int
    delivered_at: datetime | None = None
    seen_at: datetime | None = None
    kind: DeliveryKind = DeliveryKind.ALERT
    provider_status: str | None = None
    provider_error_code: str | None = None
    ladder_step: int = 0


@dataclass(frozen=True)
class EscalationState:
    """One escalation step of an alert: which tier was told, and when."""

    step: int
    tier: int
    at: datetime


@dataclass(frozen=True)
class AlertState:
    """One alert and its deliveries as the page shows them; equal states mean nothing to send."""

    alert_uuid: str
    location: str
    label: str
    severity: Severity
    url: str
    time_spotted: datetime
    received_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    escalation_step: int
    next_escalation_at: datetime | None
    escalations: tuple[EscalationState, ...]
    outcome: Outcome | None
    value_recovered: float | None
    outcome_note: str | None
    outcome_by: str | None
    outcome_at: datetime | None
    deliveries: tuple[DeliveryState, ...]
    # Its other outbound records: vendor events, claim notices.
    outbound: tuple[DeliveryState, ...] = ()
    ladder_step: int = 0
    ladder_step_at: datetime | None = None
    # Why it rang nobody when it came (grouped, closed, silenced; None: it rang), and its group: how many
    # alerts, and when they are summed up.
    quiet: str | None = None
    group_id: int | None = None
    group_size: int = 0
    group_closes_at: datetime | None = None


def _name(user: User) -> str:
    return user.name or user.user_uuid


def _escalation(step: AlertEscalation) -> EscalationState:
    return EscalationState(step=step.step, tier=step.tier, at=step.at)


def _delivery(delivery: Delivery) -> DeliveryState:
    return DeliveryState(
        id=delivery.id,
        kind=delivery.kind,
        channel=delivery.channel,
        user=_name(delivery.user) if delivery.user else delivery.channel,
        status=delivery.status,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        sent_at=delivery.sent_at,
        updated_at=delivery.updated_at,
        escalation_step=delivery.escalation_step,
        delivered_at=delivery.delivered_at,
        seen_at=delivery.seen_at,
        provider_status=delivery.provider_status,
        provider_error_code=delivery.provider_error_code,
        ladder_step=delivery.ladder_step,
    )


def quiet_reason(alert: Alert) -> str | None:
    """Why a stored alert rang nobody when it came: silenced, closed (held for the shop's opening), grouped (a
    burst's later alert); None when it rang (or its shop's roster had nobody on shift)."""
    if alert.silence_id is not None:
        return "silenced"
    if alert.group is None:
        return None
    if alert.group.reason is GroupReason.CLOSED:
        return "closed"
    return "grouped" if alert.group.first_alert_id != alert.id else None


def _state(alert: Alert) -> AlertState:
    deliveries = (_delivery(delivery) for delivery in alert.deliveries)
    cents = alert.outcome_value_cents
    return AlertState(
        alert_uuid=alert.alert_uuid,
        location=alert.location.name,
        label=alert.label,
        severity=alert.severity,
        url=alert.url,
        time_spotted=alert.time_spotted,
        received_at=alert.received_at,
        claimed_by=_name(alert.claimed_by) if alert.claimed_by else None,
        claimed_at=alert.claimed_at,
        escalation_step=alert.escalation_step,
        next_escalation_at=alert.next_escalation_at,
        escalations=tuple(_escalation(step) for step in alert.escalations),
        ladder_step=alert.ladder_step,
        ladder_step_at=alert.ladder_step_at,
        quiet=quiet_reason(alert),
        group_id=alert.group_id,
        group_size=alert.group.size if alert.group else 0,
        group_closes_at=alert.group.closes_at if alert.group else None,
        outcome=alert.outcome,
        value_recovered=None if cents is None else cents / 100,
        outcome_note=alert.outcome_note,
        outcome_by=_name(alert.outcome_by) if alert.outcome_by else None,
        outcome_at=alert.outcome_at,
        # Deliveries of one alert share their creation time: a fixed order keeps equal states equal.
        deliveries=tuple(sorted(deliveries, key=lambda state: (state.channel, state.user, state.id))),
        outbound=tuple(
            sorted(
                (_delivery(record) for record in alert.outbound),
                key=lambda state: (state.kind, state.channel, state.user, state.id),
            )
        ),
    )


def recent_alerts(*, limit: int) -> list[AlertState]:
    """The `limit` most recently received alerts, with deliveries, claim, steps and outcome, newest first."""
    alerts = db.session.scalars(
        sa.select(Alert)
        .options(
            joinedload(Alert.location),
            joinedload(Alert.claimed_by),
            joinedload(Alert.outcome_by),
            selectinload(Alert.group).undefer(AlertGroup.size),
            selectinload(Alert.escalations),
            # An SMS's state shows its provider's receipt, read from its attempts.
            selectinload(Alert.deliveries).options(
                joinedload(Delivery.user), selectinload(Delivery.attempt_log)
            ),
            selectinload(Alert.outbound).options(
                joinedload(Delivery.user), selectinload(Delivery.attempt_log)
            ),
        )
        .order_by(Alert.received_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    states = [_state(alert) for alert in alerts]
    # End the read: the next one sees what was committed since, and no connection is held in between.
    db.session.rollback()
    return states


def watch_alerts(*, limit: int, poll_interval: float, duration: float) -> Iterator[list[AlertState]]:
    """The recent alerts, then every `poll_interval` s those new or changed (often none), for `duration` s."""
    deadline = time.monotonic() + duration
    current = recent_alerts(limit=limit)
    yield current
    known = {state.alert_uuid: state for state in current}
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(poll_interval, remaining))
        current = recent_alerts(limit=limit)
        yield [state for state in current if known.get(state.alert_uuid) != state]
        known = {state.alert_uuid: state for state in current}
