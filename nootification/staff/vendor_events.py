"""The loop back to the camera vendor: each outcome staff record, as a signed Standard Webhooks event.

An event is an outbound record of its own kind (`vendor_event`, channel `vendor`), written with the outcome
in the same transaction, so none is lost, and sent by the delivery engine as any delivery is: leased,
retried (at most OUTCOME_EVENT_MAX_ATTEMPTS rounds, no freshness deadline), behind the breaker of the
vendor's host, each attempt in the ledger. The record's id is its `webhook-id` on every try, so the vendor
can drop a repeat. Staff appear as pseudonyms (an HMAC of their UUID under the pseudonyms' key,
services/keys.py), never by name or UUID; without SECRET_KEY, not at all. The signing and the POST are the
vendor's sender (senders/vendor.py); what the event says is built here.
"""

import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from nootification.delivery import outbound
from nootification.delivery.lease import LeasedDelivery
from nootification.delivery.messages import UndeliverableError
from nootification.delivery.outbox import QueuedJob, requeue
from nootification.errors import Conflict, NotFound
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind, DeliveryStatus, User, utcnow
from nootification.senders.base import Message, MessageSender
from nootification.services.audit import record
from nootification.services.keys import pseudonym_key

log = logging.getLogger(__name__)

EVENT_TYPE = "alert.outcome"
CHANNEL = "vendor"


def add_event(alert_id: int, now: datetime) -> QueuedJob | None:
    """Write an event for the alert's outcome in the caller's transaction; its job to queue after the commit,
    or None without a vendor."""
    if not current_app.config["VENDOR_OUTCOME_URL"]:
        return None
    return outbound.add(kind=DeliveryKind.VENDOR_EVENT, channel=CHANNEL, alert_id=alert_id, now=now)


def queue_events(jobs: Sequence[QueuedJob]) -> None:
    """Queue the committed events; when Redis refuses, the sweeper queues them."""
    outbound.queue(jobs)


def latest_event(alert: Alert) -> Delivery | None:
    """The alert's latest vendor event, if any."""
    return db.session.scalar(
        sa.select(Delivery)
        .where(Delivery.alert_id == alert.id, Delivery.kind == DeliveryKind.VENDOR_EVENT)
        .order_by(Delivery.created_at.desc())
        .limit(1)
    )


def replay(alert_uuid: str) -> Delivery:
    """Send the alert's latest outcome event again, under the same webhook-id; 404 without one, 409 while it
    is being sent."""
    alert = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == alert_uuid))
    event = latest_event(alert) if alert is not None else None
    if event is None:
        raise NotFound("No outcome event for this alert: no outcome, or no vendor URL when it was recorded.")
    if event.status is DeliveryStatus.SENDING:
        raise Conflict("The event is being sent right now.", field="alert_uuid")
    before = {"event": event.id, "status": event.event_status.value, "attempts": event.attempts}
    event.retry_round, event.last_error = 0, None
    after = {"event": event.id, "status": "pending", "attempts": event.attempts}
    record("outcome_event.replay", target_type="alert", target_id=alert_uuid, before=before, after=after)
    requeue([event])  # commits the audit row with the event
    db.session.refresh(event)
    return event


def build_message(delivery: LeasedDelivery, sender: MessageSender) -> Message:
    """The event as it stands when sent (the engine's builder for `vendor_event`): for the vendor's URL,
    its type and data in `options`; the sender adds the moment it signs it."""
    config = current_app.config
    url = config["VENDOR_OUTCOME_URL"]
    alert = db.session.get(Alert, delivery.alert_id) if delivery.alert_id is not None else None
    if not url or alert is None:
        raise UndeliverableError("no vendor URL set, or the alert is gone")
    # Never keyed with the vendor's own secret, who could then tell who is behind each pseudonym.
    event = payload(alert, utcnow(), pseudonym_key(config))
    return Message(
        delivery_id=delivery.id,
        user_uuid="",
        address=url,
        alert_uuid=alert.alert_uuid,
        url=alert.url or "",
        location=alert.location.name,
        label=alert.label,
        severity=alert.severity.value,
        time_spotted=alert.time_spotted.timestamp(),
        options={"type": event["type"], "data": event["data"]},
    )


def pseudonym(user: User | None, key: bytes | None) -> str | None:
    """How a member of staff appears to the vendor: stable, and telling nothing about who they are; None
    without a user or without a key."""
    if user is None or key is None:
        return None
    digest = hmac.new(key, f"staff:{user.user_uuid}".encode(), hashlib.sha256).hexdigest()
    return f"staff-{digest[:20]}"


def payload(alert: Alert, sent_at: datetime, key: bytes | None) -> dict:
    """The event: what happened, when the alert was claimed, the value recovered, by whom (pseudonyms)."""
    cents = alert.outcome_value_cents
    return {
        "type": EVENT_TYPE,
        "timestamp": sent_at.isoformat(),
        "data": {
            "alert_uuid": alert.alert_uuid,
            "location": alert.location.name,
            "label": alert.label,
            "outcome": alert.outcome.value if alert.outcome else None,
            "value_recovered": None if cents is None else cents / 100,
            "claimed_at": alert.claimed_at.isoformat() if alert.claimed_at else None,
            "outcome_at": alert.outcome_at.isoformat() if alert.outcome_at else None,
            "claimed_by": pseudonym(alert.claimed_by, key),
            "recorded_by": pseudonym(alert.outcome_by, key),
        },
    }
