"""Receipts from the phone: a notification arrived (`received`) and was opened (`seen`).

Reported by the staff page's service worker or a native app, never inferred: engagement facts kept beside
`sent_at`, which stays what the provider accepted. Each moment is kept once, the first report's. An alert
opened needs no later step of its shop's ladder for that person.
"""

import enum

import sqlalchemy as sa

from nootification.delivery.ladder import cancel_later_steps
from nootification.errors import NotFound
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind, User, utcnow
from nootification.observability import metrics

DELIVERIES = Delivery.__table__
THEY_OPENED_IT = "not needed: they opened the alert"


class ReceiptState(enum.StrEnum):
    """What the phone reports: the notification arrived, or it was opened (which means it arrived too)."""

    RECEIVED = "received"
    SEEN = "seen"


def record_receipt(
    delivery_id: str, state: ReceiptState, *, user_uuid: str, alert_uuid: str | None = None
) -> Delivery:
    """Mark the delivery received (and seen) now unless it already was; only its recipient may, and with a
    staff link only for that link's alert. 404 for anyone else, so delivery ids are not confirmed."""
    delivery = db.session.scalar(
        sa.select(Delivery)
        .join(Delivery.user)
        .join(Delivery.alert)
        .where(Delivery.id == delivery_id, Delivery.kind == DeliveryKind.ALERT, User.user_uuid == user_uuid)
        .where(sa.true() if alert_uuid is None else Alert.alert_uuid == alert_uuid)
    )
    if delivery is None:
        raise NotFound("No delivery with this id for this member of staff.", field="delivery_id")
    now = utcnow()
    newly = [ReceiptState.RECEIVED] if _first(delivery_id, DELIVERIES.c.delivered_at, now) else []
    if state is ReceiptState.SEEN and _first(delivery_id, DELIVERIES.c.seen_at, now):
        newly.append(ReceiptState.SEEN)
        cancel_later_steps(delivery.alert_id, THEY_OPENED_IT, user_id=delivery.user_id)
    db.session.commit()
    db.session.refresh(delivery)
    alert = delivery.alert
    for reported in newly:
        metrics.record_receipt(delivery.channel, alert.severity.value, reported.value, alert.received_at, now)
    return delivery


def _first(delivery_id: str, column: sa.Column, now) -> bool:
    """Set the column to now where it is still empty (a compare-and-set); whether this call set it."""
    unset = sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id, column.is_(None))
    result = db.session.execute(unset.values({column.name: now}))
    return result.rowcount == 1


def record_opened(alert: Alert, user: User) -> None:
    """The person opened the alert's staff page: their later steps of the shop's ladder still waiting are
    cancelled."""
    cancel_later_steps(alert.id, THEY_OPENED_IT, user_id=user.id)
    db.session.commit()
