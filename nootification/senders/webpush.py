"""The Web Push channel: RFC 8030 delivery to a browser's push service, RFC 8291 encryption, RFC 8292 VAPID.

The staff page, installed as a web app, subscribes with the server's VAPID public key; the subscription
(endpoint, keys `p256dh` and `auth`) is the contact point. The cryptography is http_ece's (aes128gcm with
the subscription's keys, as pywebpush does) and py_vapid's (the ES256 JWT); the POST is ours, so that it is
one attempt classified like every other channel's.
"""

import base64
import json
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from marshmallow import Schema, ValidationError, fields, validate, validates
from py_vapid import Vapid02

from nootification.senders.base import ContactGoneError, Message, PermanentSendError, UrlTargetSender
from nootification.senders.device import (
    NOTIFICATION_MAX_BODY,
    NOTIFICATION_MAX_SUBJECT,
    notification_fields,
    seconds_to_live,
)
from nootification.senders.http import raise_for_status
from nootification.senders.registry import register
from nootification.senders.transport import HttpClient

# A push service keeps a message at most this long (RFC 8030 lets it shorten any TTL); 4 weeks, as FCM.
MAX_TTL_SECONDS = 28 * 24 * 3600
# The push services take an encrypted body of up to 4096 bytes; aes128gcm adds its 86-byte header, a 16-byte
# tag and a 1-byte delimiter.
MAX_PLAINTEXT_BYTES = 3993
# A VAPID token is signed for this long and reused for most of it (RFC 8292 allows up to 24 h).
VAPID_TOKEN_SECONDS = 12 * 3600
VAPID_REUSE_SECONDS = 11 * 3600
GONE_STATUSES = frozenset({404, 410})
P256_POINT_BYTES = 65
AUTH_SECRET_BYTES = 16


def b64url_decode(text: str) -> bytes:
    """Bytes from base64url, padded or not (browsers give it unpadded)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as the Push API and VAPID write keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Base64UrlKey(fields.String):
    """A base64url key of an exact length in bytes."""

    def __init__(self, length: int, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = b64url_decode(text)
        except ValueError:
            raise ValidationError("Not base64url.") from None
        if len(decoded) != self.length:
            raise ValidationError(f"Must be {self.length} bytes.")
        return text


class WebPushConfigSchema(Schema):
    """A Web Push contact point: the subscription's endpoint and its keys, as `PushSubscription.toJSON()`."""

    address = fields.Url(required=True, schemes={"https"}, validate=validate.Length(max=2048))
    p256dh = Base64UrlKey(P256_POINT_BYTES, required=True)
    auth = Base64UrlKey(AUTH_SECRET_BYTES, required=True)

    @validates("p256dh")
    def _on_the_curve(self, value: str, **kwargs) -> None:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(value))
        except ValueError:
            raise ValidationError("Not a P-256 public key.") from None


class VapidSigner:
    """Signs the VAPID `Authorization` header per push service origin, reusing each token for hours."""

    def __init__(self, private_key: str, subject: str):
        self.vapid = Vapid02.from_string(private_key)
        self.subject = subject
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def authorization(self, audience: str) -> str:
        """`vapid t=<JWT>, k=<public key>` for a push service's origin."""
        now = time.time()
        with self._lock:
            signed_at, header = self._tokens.get(audience, (0.0, ""))
            if now - signed_at > VAPID_REUSE_SECONDS:
                claims = {"aud": audience, "exp": int(now) + VAPID_TOKEN_SECONDS, "sub": self.subject}
                header = self.vapid.sign(claims)["Authorization"]
                self._tokens[audience] = (now, header)
            return header


def application_server_key(private_key: str) -> str:
    """The public half of a VAPID private key as browsers subscribe with it: the uncompressed P-256 point,
    base64url; ValueError when the key is not one."""
    point = Vapid02.from_string(private_key).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(point)


@register
class WebPushSender(UrlTargetSender):
    """Encrypts the notification for the subscription and POSTs it to its push service's endpoint; each push
    service (the endpoint's host) has a circuit breaker of its own."""

    channel = "webpush"
    config_schema = WebPushConfigSchema
    secret_names = ("WEBPUSH_VAPID_PRIVATE_KEY",)
    max_subject = NOTIFICATION_MAX_SUBJECT
    max_body = NOTIFICATION_MAX_BODY

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.service_url = config["PUBLIC_URL"].rstrip("/")
        self.http = HttpClient(config)
        self._signer: VapidSigner | None = None
        self._signer_lock = threading.Lock()

    def signer(self) -> VapidSigner:
        """The VAPID signer, built on first use from the secret; PermanentSendError when it is not set."""
        with self._signer_lock:
            if self._signer is None:
                private_key = self.required_secret("WEBPUSH_VAPID_PRIVATE_KEY")
                try:
                    subject = self.config["WEBPUSH_VAPID_SUBJECT"] or f"mailto:{self.config['SMTP_FROM']}"
                    self._signer = VapidSigner(private_key, subject)
                except (ValueError, TypeError):
                    raise PermanentSendError("WEBPUSH_VAPID_PRIVATE_KEY is not a P-256 private key") from None
            return self._signer

    def payload(self, message: Message) -> dict:
        """What the service worker shows and reports on: the notification, the alert, the links."""
        return notification_fields(message, self.service_url)

    @staticmethod
    def headers(message: Message, now: float) -> dict[str, str]:
        """TTL (the alert's remaining freshness), Urgency (high when critical) and a Topic per alert, so a
        repeat replaces the message a push service still holds instead of stacking."""
        return {
            "TTL": str(seconds_to_live(message, now, MAX_TTL_SECONDS)),
            "Urgency": "high" if message.severity == "critical" else "normal",
            "Topic": message.alert_uuid.replace("-", ""),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }

    def send(self, message: Message) -> None:
        """Encrypt and POST once: 404/410 mean the subscription is gone, 413 and other 4xx are permanent,
        429 and 5xx transient."""
        endpoint = self.public_url(message)
        plaintext = json.dumps(self.payload(message), separators=(",", ":")).encode()
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise PermanentSendError(f"the notification takes {len(plaintext)} bytes: too long for Web Push")
        body = self.encrypt(plaintext, message.options)
        parts = urlsplit(endpoint)
        headers = {
            **self.headers(message, time.time()),
            "Authorization": self.signer().authorization(f"{parts.scheme}://{parts.netloc}"),
        }
        response = self.http.post(endpoint, body=body, headers=headers, timeout=self.timeout)
        if response.status_code in GONE_STATUSES:
            status = response.status_code
            raise ContactGoneError(f"the push subscription is gone (HTTP {status})", http_status=status)
        raise_for_status(response, reason=f"push service {response.status_code}: {response.text[:200]}")

    @staticmethod
    def encrypt(plaintext: bytes, keys: Mapping) -> bytes:
        """The aes128gcm body for the subscription's keys, with a fresh ephemeral sender key (RFC 8291)."""
        try:
            receiver_key, auth_secret = b64url_decode(keys["p256dh"]), b64url_decode(keys["auth"])
        except (KeyError, ValueError):
            raise PermanentSendError("the subscription has no valid p256dh and auth keys") from None
        sender_key = ec.generate_private_key(ec.SECP256R1())
        return http_ece.encrypt(
            plaintext, private_key=sender_key, dh=receiver_key, auth_secret=auth_secret, version="aes128gcm"
        )
