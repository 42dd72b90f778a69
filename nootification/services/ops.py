"""The ops page's feed: the latest alerts with their deliveries, watched for changes by reading the database.

Polling rather than a publication from the workers: every change of a delivery is committed to the database
by whichever process made it (worker, sweeper, API), so reading the database misses none and needs nothing
added to the delivery path.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryStatus, Severity


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
    deliveries: tuple[DeliveryState, ...]


def _state(alert: Alert) -> AlertState:
    deliveries = (
        DeliveryState(
            id=delivery.id,
            channel=delivery.channel,
            user=delivery.user.name or delivery.user.user_uuid,
            status=delivery.status,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            sent_at=delivery.sent_at,
            updated_at=delivery.updated_at,
        )
        for delivery in alert.deliveries
    )
    return AlertState(
        alert_uuid=alert.alert_uuid,
        location=alert.location.name,
        label=alert.label,
        severity=alert.severity,
        url=alert.url,
        time_spotted=alert.time_spotted,
        received_at=alert.received_at,
        # Deliveries of one alert share their creation time: a fixed order keeps equal states equal.
        deliveries=tuple(sorted(deliveries, key=lambda state: (state.channel, state.user, state.id))),
    )


def recent_alerts(*, limit: int) -> list[AlertState]:
    """The `limit` most recently received alerts with their deliveries, newest first."""
    alerts = db.session.scalars(
        sa.select(Alert)
        .options(joinedload(Alert.location), selectinload(Alert.deliveries).joinedload(Delivery.user))
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
