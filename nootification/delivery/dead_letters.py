"""Looking into deliveries, and sending again what failed or expired (dead letters)."""

from datetime import datetime

from flask import current_app
from sqlalchemy.orm import selectinload

from nootification.delivery.outbox import requeue
from nootification.errors import Conflict, Gone, NotFound
from nootification.extensions import db
from nootification.models import (
    DEAD_LETTER_STATUSES,
    Alert,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Location,
    fresh_deadline,
    utcnow,
)
from nootification.services.alerts import get_alert
from nootification.services.audit import record
from nootification.services.pages import Page, read_page


def list_deliveries(
    *,
    page: int = 1,
    page_size: int = 50,
    status: DeliveryStatus | None = None,
    kind: DeliveryKind | None = None,
    location: str | None = None,
    channel: str | None = None,
    alert_uuid: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page:
    """Outbound records of every kind matching every given filter, newest first."""
    conditions = []
    if status is not None:
        conditions.append(Delivery.status == status)
    if kind is not None:
        conditions.append(Delivery.kind == kind)
    if channel is not None:
        conditions.append(Delivery.channel == channel)
    if alert_uuid is not None:
        conditions.append(Delivery.alert.has(Alert.alert_uuid == alert_uuid))
    if location is not None:
        conditions.append(Delivery.alert.has(Alert.location.has(Location.name == location)))
    if since is not None:
        conditions.append(Delivery.created_at >= since)
    if until is not None:
        conditions.append(Delivery.created_at < until)
    order = [Delivery.created_at.desc(), Delivery.id]
    # What a listed delivery shows (its alert and shop, its user, its provider's receipt), in four
    # queries for the page rather than four per delivery.
    shown = [
        selectinload(Delivery.alert).joinedload(Alert.location),
        selectinload(Delivery.user),
        selectinload(Delivery.attempt_log),
    ]
    return read_page(Delivery, conditions, order, page=page, page_size=page_size, options=shown)


def get_delivery(delivery_id: str) -> Delivery:
    """The delivery with this id."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound("No delivery with this id.")
    return delivery


def _schedule(deliveries: list[Delivery], status: DeliveryStatus | None = None) -> dict:
    """Each delivery's status (or the one it is about to take) and deadline, for the audit log."""
    return {
        delivery.id: {
            "status": (status or delivery.status).value,
            "deadline_at": delivery.deadline_at.isoformat() if delivery.deadline_at else None,
        }
        for delivery in deliveries
    }


def _send_again(deliveries: list[Delivery], *, action: str, target_type: str, target_id: str) -> None:
    if any(
        delivery.alert is not None and delivery.alert.clip_removed_at is not None for delivery in deliveries
    ):
        raise Gone("This alert is past its retention: its clip is gone, so it cannot be sent again.")
    # A manual retry is a fresh chance: the freshness window starts again from now.
    now = utcnow()
    before = _schedule(deliveries)
    for delivery in deliveries:
        severity = delivery.alert.severity if delivery.alert is not None else None
        delivery.deadline_at = fresh_deadline(delivery.kind, severity, now, current_app.config)
        delivery.retry_round = 0
        delivery.last_error = None
    after = _schedule(deliveries, DeliveryStatus.QUEUED)
    record(action, target_type=target_type, target_id=target_id, before=before, after=after)
    requeue(deliveries)  # commits the audit row with the deliveries


def retry_delivery(delivery_id: str) -> Delivery:
    """Send a failed or expired delivery again."""
    delivery = get_delivery(delivery_id)
    if delivery.status not in DEAD_LETTER_STATUSES:
        raise Conflict(
            f"Only failed or expired deliveries can be retried; this one is {delivery.status.value}."
        )
    _send_again([delivery], action="delivery.retry", target_type="delivery", target_id=delivery.id)
    return delivery


def replay_alert(alert_uuid: str) -> list[Delivery]:
    """Send again every failed or expired outbound record of an alert (its deliveries, vendor events and
    notices), never one already sent; return them."""
    alert = get_alert(alert_uuid)
    records = [*alert.deliveries, *alert.outbound]
    dead = [delivery for delivery in records if delivery.status in DEAD_LETTER_STATUSES]
    if dead:
        _send_again(dead, action="alert.replay", target_type="alert", target_id=alert_uuid)
    return dead
