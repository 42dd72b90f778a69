"""Personal action links: a signed, expiring capability for one (alert, user), usable with no login.

The token packs the alert's and the user's UUIDs and an expiry (36 bytes) with a 128-bit HMAC-SHA256 of them
under the links' key (derived from the key ring, services/keys.py), in URL-safe base64 without padding: 70
characters, short enough for an SMS, with exactly one spelling. Whoever holds the link acts as that user on
that alert only, until the alert is stale plus STAFF_LINK_HOURS.
"""

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from nootification.errors import Gone, NotFound
from nootification.i18n import mark as _
from nootification.models import Severity, deadline_for, utcnow
from nootification.services.keys import LINKS, derived_key, key_ring

LINK_PATH = "/s/"
_PAYLOAD = struct.Struct(">16s16sI")
_MAC_BYTES = 16
_TOKEN_BYTES = _PAYLOAD.size + _MAC_BYTES


@dataclass(frozen=True)
class LinkScope:
    """What a valid link lets its holder act on: one alert, as one user."""

    alert_uuid: str
    user_uuid: str


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> bytes:
    """The token's bytes, or b"" unless re-encoding them spells the token exactly: base64 decoders ignore
    a last character's spare bits and may skip stray characters, and a token must have one spelling only."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return b""
    return raw if _encode(raw) == token else b""


def link_token(alert_uuid: str, user_uuid: str, expires_at: datetime, secret: str) -> str:
    """The token of a link for this alert and user, valid until `expires_at`, signed with the links' key
    derived from `secret`, a key of the ring."""
    expires = int(expires_at.timestamp())
    payload = _PAYLOAD.pack(uuid.UUID(alert_uuid).bytes, uuid.UUID(user_uuid).bytes, expires)
    return _encode(payload + _mac(derived_key(secret, LINKS), payload))


def scope_of_link(token: str) -> LinkScope:
    """The scope of a link presented to this application; 404 when forged or when no SECRET_KEY is set (no
    link was ever issued, and none may be forged with an empty key), 410 when expired."""
    return read_token(token, key_ring(current_app.config), utcnow())


def read_token(token: str, ring: Sequence[str], now: datetime) -> LinkScope:
    """The scope of a link's token signed with a key of the ring; 404 when it is malformed or forged, 410 when
    it has expired."""
    raw = _decode(token)
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    # Every key is tried, so the time taken does not tell which one signed.
    signed = [hmac.compare_digest(mac, _mac(derived_key(secret, LINKS), payload)) for secret in ring]
    if len(raw) != _TOKEN_BYTES or not any(signed):
        raise NotFound("This link is not valid.", field="link")
    alert_bytes, user_bytes, expires = _PAYLOAD.unpack(payload)
    if expires < now.timestamp():
        raise Gone(_("This link has expired: the alert is over."), field="link")
    return LinkScope(str(uuid.UUID(bytes=alert_bytes)), str(uuid.UUID(bytes=user_bytes)))


def link_expiry(received_at: datetime, severity: Severity, config: Mapping) -> datetime:
    """When an alert's links stop working: once the alert is stale, plus STAFF_LINK_HOURS."""
    return deadline_for(received_at, severity, config) + timedelta(hours=config["STAFF_LINK_HOURS"])


def staff_link(alert_uuid: str, user_uuid: str, expires_at: datetime, config: Mapping) -> str | None:
    """The user's link to act on the alert, or None when PUBLIC_URL or SECRET_KEY is not set."""
    ring = key_ring(config)
    if not config["PUBLIC_URL"] or not ring:
        return None
    token = link_token(alert_uuid, user_uuid, expires_at, ring[0])
    return f"{config['PUBLIC_URL'].rstrip('/')}{LINK_PATH}{token}"
