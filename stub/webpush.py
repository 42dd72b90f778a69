"""A Web Push service (RFC 8030, 8291, 8292) answering as Mozilla's autopush does, and its browsers."""

import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from google.auth import crypt
from werkzeug.http import HTTP_STATUS_CODES

from stub.faults import faulty, inject
from stub.http import Refused, json_error, json_object
from stub.jwt import Jwt, b64url, b64url_decode, is_number
from stub.state import store, stub_state

bp = Blueprint("webpush", __name__)

NON_NEGATIVE_INTEGER = re.compile(r"[0-9]+")
WEBPUSH_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
WEBPUSH_MAX_BODY = 4096
VAPID_MAX_LIFETIME = 24 * 60 * 60
# autopush's errno for the statuses an injected failure can take; 999 is its "unknown error".
WEBPUSH_FAULT_ERRNOS = {404: 102, 410: 106, 413: 104, 429: 201, 503: 201}


def _uncompressed(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _p256_public_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a 65-byte uncompressed point; ValueError for anything else."""
    if len(raw) != 65:
        raise ValueError("not an uncompressed point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def _p256_private_key(raw: bytes) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key of a 32-byte scalar; ValueError for anything else."""
    if len(raw) != 32:
        raise ValueError("not a 32-byte scalar")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def _auth_secret(raw: bytes) -> bytes:
    if len(raw) != 16:
        raise ValueError("not 16 bytes")
    return raw


@dataclass(frozen=True)
class WebPushSubscription:
    """A push subscription as both the push service and the browser holding it know it."""

    endpoint: str
    application_server_key: bytes
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    ended: bool = False

    @property
    def origin(self) -> str:
        """The endpoint's scheme://host[:port]: the audience its VAPID tokens must name."""
        parts = urllib.parse.urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    def as_json(self) -> dict[str, Any]:
        """The PushSubscription JSON a browser hands the application; no private key in it."""
        keys = {"p256dh": b64url(_uncompressed(self.private_key.public_key())), "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}


class Subscriptions:
    """The push subscriptions the Web Push emulation knows; every access holds the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: dict[str, WebPushSubscription] = {}

    def subscribe(self, subscription_id: str, subscription: WebPushSubscription) -> None:
        """Keep a new subscription under its id."""
        with self._lock:
            self._subscriptions[subscription_id] = subscription

    def subscription(self, subscription_id: str) -> WebPushSubscription | None:
        """The subscription with this id, ended or not, or None if there never was one."""
        with self._lock:
            return self._subscriptions.get(subscription_id)

    def unsubscribe(self, subscription_id: str) -> bool:
        """End a subscription; False if there is none with this id."""
        with self._lock:
            subscription = self._subscriptions.get(subscription_id)
            if subscription is None:
                return False
            self._subscriptions[subscription_id] = replace(subscription, ended=True)
            return True


def _subscriptions() -> Subscriptions:
    return current_app.extensions["webpush"]


# Web Push: errors in Mozilla autopush's shape, {code, errno, error, message}.
def _autopush_refusal(code: int, errno: int, message: str) -> Response:
    response = jsonify({"code": code, "errno": errno, "error": HTTP_STATUS_CODES[code], "message": message})
    response.status_code = code
    return response


def _invalid_subscription(field: str, reason: str) -> Refused:
    return Refused(json_error(400, "invalid subscription", {field: [reason]}))


def _subscription_field(
    body: Mapping[str, Any], name: str, parse: Callable[[bytes], Any], reason: str
) -> Any:
    """`body[name]` decoded from base64url and parsed, None if absent; Refused naming it if it cannot be."""
    if body.get(name) is None:
        return None
    try:
        return parse(b64url_decode(body[name]))
    except ValueError:
        raise _invalid_subscription(name, reason) from None


@bp.post("/webpush/subscriptions")
def webpush_subscribe() -> ResponseReturnValue:
    """What a browser's pushManager.subscribe does: 201 with the PushSubscription JSON.

    Body: {application_server_key, private_key?, auth?} in base64url: the VAPID public key the subscription is
    bound to, the raw P-256 private scalar of the subscription's key pair and its 16-byte auth secret. The
    stub generates the key pair and auth secret not given, and never hands out a private key.
    """
    body = json_object() or {}
    server_key = _subscription_field(
        body, "application_server_key", _p256_public_key, "Not a base64url 65-byte uncompressed P-256 key."
    )
    if server_key is None:
        raise _invalid_subscription("application_server_key", "Missing data for required field.")
    private_key = _subscription_field(
        body, "private_key", _p256_private_key, "Not a base64url 32-byte P-256 private key."
    )
    auth = _subscription_field(body, "auth", _auth_secret, "Not base64url of 16 bytes.")
    subscription_id = secrets.token_urlsafe(24)
    subscription = WebPushSubscription(
        endpoint=f"{request.host_url}webpush/send/{subscription_id}",
        application_server_key=_uncompressed(server_key),
        private_key=private_key or ec.generate_private_key(ec.SECP256R1()),
        auth=auth or secrets.token_bytes(16),
    )
    _subscriptions().subscribe(subscription_id, subscription)
    response = jsonify(subscription.as_json())
    response.status_code = 201
    return response


@bp.delete("/webpush/subscriptions/<subscription_id>")
def webpush_unsubscribe(subscription_id: str) -> ResponseReturnValue:
    """End a subscription, as a browser's unsubscribe does: later pushes to it answer 410."""
    if not _subscriptions().unsubscribe(subscription_id):
        return json_error(404, "no such subscription")
    return "", 204


def _vapid_token() -> tuple[Jwt, ec.EllipticCurvePublicKey]:
    """The token and public key of `Authorization: vapid t=<JWT>, k=<key>`; Refused (401) if absent or bad."""
    refusal = Refused(_autopush_refusal(401, 109, "Missing or malformed VAPID authorization"))
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "vapid":
        raise refusal
    params = (param.partition("=") for param in credentials.split(","))
    values = {name.strip(): value.strip() for name, _, value in params}
    try:
        return Jwt.parse(values.get("t", "")), _p256_public_key(b64url_decode(values.get("k", "")))
    except ValueError:
        raise refusal from None


def _vapid_problem(
    token: Jwt, key: ec.EllipticCurvePublicKey, subscription: WebPushSubscription
) -> str | None:
    """Why a well-formed VAPID token does not authorise a push to `subscription`, or None if it does."""
    claims, now = token.claims, time.time()
    expires, subject = claims.get("exp"), claims.get("sub")
    if not token.signed_by(crypt.EsVerifier(key), "ES256"):
        return "Invalid VAPID signature"
    if _uncompressed(key) != subscription.application_server_key:
        return "VAPID public key mismatch"
    if claims.get("aud") != subscription.origin:
        return "Invalid VAPID audience"
    if not is_number(expires) or expires <= now:
        return "Invalid VAPID expiry"
    if expires > now + VAPID_MAX_LIFETIME:
        return "The VAPID token expiration is too long"
    if not isinstance(subject, str) or not subject.startswith(("mailto:", "https:")):
        return "Invalid VAPID subject"
    return None


def _webpush_headers() -> tuple[int, str | None, str | None]:
    """The TTL, Urgency and Topic of a push; Refused (400) naming the one that is missing or wrong."""
    ttl, urgency, topic = (request.headers.get(name) for name in ("TTL", "Urgency", "Topic"))
    if ttl is None:
        raise Refused(_autopush_refusal(400, 111, "Missing TTL value"))
    if not NON_NEGATIVE_INTEGER.fullmatch(ttl):
        raise Refused(_autopush_refusal(400, 112, "Invalid TTL header value"))
    if urgency is not None and urgency not in URGENCIES:
        raise Refused(_autopush_refusal(400, 114, "Invalid Urgency header value"))
    if topic is not None and not WEBPUSH_TOPIC.fullmatch(topic):
        raise Refused(_autopush_refusal(400, 113, "Invalid Topic header value"))
    return int(ttl), urgency, topic


def _webpush_plaintext(subscription: WebPushSubscription) -> bytes:
    """The body decrypted as the browser holding the subscription would; Refused if it cannot be."""
    body = request.get_data()
    if not body:
        return b""
    encoding = request.headers.get("Content-Encoding")
    if encoding != "aes128gcm":
        reason = "Missing Content-Encoding header" if encoding is None else "Unknown Content-Encoding header"
        raise Refused(_autopush_refusal(400, 110, reason))
    if len(body) > WEBPUSH_MAX_BODY:
        raise Refused(_autopush_refusal(413, 104, "Data payload too large"))
    try:
        return http_ece.decrypt(
            body, private_key=subscription.private_key, auth_secret=subscription.auth, version="aes128gcm"
        )
    except (http_ece.ECEException, ValueError):
        raise Refused(_autopush_refusal(400, 110, "The payload does not decrypt")) from None


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


@bp.post("/webpush/send/<subscription_id>")
def webpush_send(subscription_id: str) -> ResponseReturnValue:
    """A Web Push endpoint: checks VAPID and the headers, decrypts the body and records the plaintext."""
    fault = inject(stub_state())
    if fault is not None:
        errno = WEBPUSH_FAULT_ERRNOS.get(fault.status, 999)
        return faulty(_autopush_refusal(fault.status, errno, f"injected failure ({fault.reason})"), fault)
    subscription = _subscriptions().subscription(subscription_id)
    if subscription is None:
        return _autopush_refusal(404, 102, "Invalid URL endpoint")
    if subscription.ended:
        return _autopush_refusal(410, 106, "No such subscription")
    token, key = _vapid_token()
    problem = _vapid_problem(token, key, subscription)
    if problem is not None:
        return _autopush_refusal(403, 109, problem)
    ttl, urgency, topic = _webpush_headers()
    plaintext = _webpush_plaintext(subscription)
    payload = _json_or_none(plaintext)
    # A real service would replace a message still queued under the same topic; the stub delivers at once.
    store(
        stub_state(),
        "webpush",
        subscription_id,
        plaintext.decode(errors="replace"),
        payload,
        alert_uuid=payload.get("alert_uuid") if isinstance(payload, dict) else None,
        ttl=ttl,
        urgency=urgency,
        topic=topic,
        sub=token.claims["sub"],
    )
    location = f"{subscription.endpoint}/messages/{secrets.token_urlsafe(16)}"
    return Response(status=201, headers={"Location": location})
