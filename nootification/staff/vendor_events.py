"""The loop back to the camera vendor: each outcome staff record, as a signed Standard Webhooks event.

An event is written with the outcome, in the same transaction, so none is lost; a job sends it once that is
committed, and each sweep queues again whatever is due: a retry after a failure (backed off as deliveries
are), a job Redis lost, an event whose sender died under its lease. The event's id is its `webhook-id` on
every try, so the vendor can drop a repeat. Staff appear as pseudonyms (an HMAC of their UUID under the
pseudonyms' key, services/keys.py), never by name or UUID; without SECRET_KEY, not at all.
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from redis.exceptions import RedisError
from standardwebhooks.webhooks import Webhook

from nootification.delivery.ledger import trim
from nootification.delivery.queue import enqueue_call
from nootification.delivery.retry import retry_delay
from nootification.errors import Conflict, NotFound
from nootification.extensions import db
from nootification.models import Alert, OutcomeEvent, OutcomeEventStatus, User, new_id, utcnow
from nootification.senders.base import PermanentSendError, SendError
from nootification.senders.http import raise_for_status
from nootification.senders.transport import HttpClient
from nootification.services.audit import record
from nootification.services.keys import pseudonym_key

log = logging.getLogger(__name__)

EVENT_TYPE = "alert.outcome"
SEND_JOB = "nootification.staff.vendor_events.send_event"
EVENTS = OutcomeEvent.__table__


def add_event(alert_id: int, now: datetime) -> str | None:
    """Write an event for the alert's outcome in the caller's transaction; its id, or None without a vendor.

    It is due after a lease: the job queued once the outcome is committed sends it sooner, and should that job
    be lost, the sweep queues it then.
    """
    config = current_app.config
    if not config["VENDOR_OUTCOME_URL"]:
        return None
    event_id = new_id()
    db.session.execute(
        EVENTS.insert().values(
            id=event_id,
            alert_id=alert_id,
            status=OutcomeEventStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now + timedelta(seconds=config["DELIVERY_LEASE"]),
        )
    )
    return event_id


def queue_events(event_ids: list[str]) -> None:
    """Queue a job per event; when Redis refuses, the sweep queues them once they are due."""
    for event_id in event_ids:
        try:
            enqueue_call(SEND_JOB, event_id)
        except RedisError as error:
            log.warning("outcome event %s: not queued (the sweep will): %s", event_id, error)


def requeue_due(now: datetime) -> int:
    """Queue the events that are due: pending ones whose time has come, and sending ones whose lease ran out.

    Each is given a lease's time before it is due again, so a job waiting behind others is not queued twice.
    """
    lease = timedelta(seconds=current_app.config["DELIVERY_LEASE"])
    db.session.execute(
        sa.update(EVENTS)
        .where(EVENTS.c.status == OutcomeEventStatus.SENDING, EVENTS.c.lease_expires_at < now)
        .values(status=OutcomeEventStatus.PENDING, lease_expires_at=None)
    )
    due = list(
        db.session.scalars(
            sa.select(EVENTS.c.id).where(
                EVENTS.c.status == OutcomeEventStatus.PENDING, EVENTS.c.next_attempt_at <= now
            )
        )
    )
    if due:
        db.session.execute(sa.update(EVENTS).where(EVENTS.c.id.in_(due)).values(next_attempt_at=now + lease))
    db.session.commit()
    queue_events(due)
    return len(due)


def replay(alert_uuid: str) -> OutcomeEvent:
    """Send the alert's latest outcome event again, under the same webhook-id; 404 without one, 409 while it
    is being sent."""
    alert = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == alert_uuid))
    event = (
        db.session.scalar(
            sa.select(OutcomeEvent)
            .where(OutcomeEvent.alert_id == alert.id)
            .order_by(OutcomeEvent.created_at.desc())
            .limit(1)
        )
        if alert is not None
        else None
    )
    if event is None:
        raise NotFound("No outcome event for this alert: no outcome, or no vendor URL when it was recorded.")
    if event.status is OutcomeEventStatus.SENDING:
        raise Conflict("The event is being sent right now.", field="alert_uuid")
    before = {"event": event.id, "status": event.status.value, "attempts": event.attempts}
    event.status, event.attempts, event.last_error = OutcomeEventStatus.PENDING, 0, None
    event.next_attempt_at = utcnow() + timedelta(seconds=current_app.config["DELIVERY_LEASE"])
    after = {"event": event.id, "status": event.status.value, "attempts": event.attempts}
    record("outcome_event.replay", target_type="alert", target_id=alert_uuid, before=before, after=after)
    db.session.commit()
    queue_events([event.id])
    return event


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


def _post(event_id: str, alert: Alert, config: Mapping) -> None:
    secret = config["VENDOR_WEBHOOK_SECRET"]
    if not secret:
        raise PermanentSendError("VENDOR_WEBHOOK_SECRET is not set")
    seconds = int(time.time())  # whole seconds: the signed timestamp and the header must be the same number
    sent_at = datetime.fromtimestamp(seconds, UTC)
    # Never keyed with the vendor's own secret, who could then tell who is behind each pseudonym.
    body = json.dumps(payload(alert, sent_at, pseudonym_key(config)), separators=(",", ":"))
    headers = {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": Webhook(secret).sign(event_id, sent_at, body),
    }
    timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
    answer = HttpClient(config).post(
        config["VENDOR_OUTCOME_URL"], body=body.encode(), headers=headers, timeout=timeout
    )
    raise_for_status(answer)


def send_event(event_id: str) -> None:
    """Send one event, if it is pending and nobody else holds it (the job's entry point)."""
    config = current_app.config
    now = utcnow()
    lease = now + timedelta(seconds=config["DELIVERY_LEASE"])
    leased = db.session.execute(
        sa.update(EVENTS)
        .where(EVENTS.c.id == event_id, EVENTS.c.status == OutcomeEventStatus.PENDING)
        .values(status=OutcomeEventStatus.SENDING, lease_expires_at=lease)
    ).rowcount
    db.session.commit()
    if not leased:
        return
    event = db.session.get(OutcomeEvent, event_id)
    error: SendError | None = None
    try:
        _post(event_id, event.alert, config)
    except SendError as caught:
        error = caught
    _record(event, error, lease, config)


def _record(event: OutcomeEvent, error: SendError | None, lease: datetime, config: Mapping) -> None:
    now = utcnow()
    attempts = event.attempts + 1
    values: dict = {"attempts": attempts, "lease_expires_at": None}
    if error is None:
        values |= {"status": OutcomeEventStatus.SENT, "sent_at": now, "last_error": None}
    elif isinstance(error, PermanentSendError) or attempts >= config["OUTCOME_EVENT_MAX_ATTEMPTS"]:
        values |= {"status": OutcomeEventStatus.FAILED, "last_error": trim(str(error))}
    else:
        delay = retry_delay(attempts - 1, error.retry_after, config)
        values |= {
            "status": OutcomeEventStatus.PENDING,
            "last_error": trim(str(error)),
            "next_attempt_at": now + timedelta(seconds=delay),
        }
    # Only while this sender still holds it: after its lease, the event is someone else's.
    db.session.execute(
        sa.update(EVENTS).where(EVENTS.c.id == event.id, EVENTS.c.lease_expires_at == lease).values(**values)
    )
    db.session.commit()
    if error is not None:
        log.warning("outcome event %s (attempt %d): %s", event.id, attempts, error)
