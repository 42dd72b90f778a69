"""Signed alerts (Standard Webhooks) as a camera signs them, and what got stored."""

import base64
import time
import uuid
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from nootification.extensions import db
from nootification.models import Alert

CURRENT = "whsec_" + base64.b64encode(b"current-secret-0123456789abcdef").decode()
PREVIOUS = "whsec_" + base64.b64encode(b"previous-secret-0123456789abcde").decode()


def signed(
    body: bytes, secret: str = CURRENT, *, webhook_id: str | None = None, at: float | None = None
) -> dict:
    """The headers of a body signed with `secret` (a new id and now unless given)."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(at if at is not None else time.time())
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def post(anonymous, body: bytes, headers: dict):
    """POST raw bytes to the alerts webhook with these headers."""
    return anonymous.post("/webhooks/alerts", data=body, headers=headers)


def alerts_stored() -> int:
    """How many alerts the database holds."""
    return db.session.query(Alert).count()
