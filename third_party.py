"""A stub of the message providers: records the notifications it receives and fails on demand.

One failure injection (GET/PUT /control) and one record (GET/DELETE /messages, ?channel= to filter) serve
every provider: the push provider, Slack, Telegram, Twilio, Teams, generic webhooks, an SMTP server, a Web
Push service and FCM. Each provider path answers in that provider's own shapes, for successes, refusals and
injected failures. `POST /press/telegram` and `/press/slack` press a chat button as those providers do: a
callback to the service, with their secret token or signature.

The Web Push service plays the browser too: `POST /webpush/subscriptions` subscribes as pushManager.subscribe
does, and `POST /webpush/send/<id>` checks VAPID (RFC 8292), decrypts the aes128gcm body (RFC 8291) with the
subscription's private key and records the plaintext on channel "webpush". FCM HTTP v1 takes access tokens
from the stub's own Google OAuth token endpoint (`POST /fcm/token`), granted to the service accounts whose
public keys were registered (`POST /fcm/service-accounts`, or STUB_FCM_SERVICE_ACCOUNTS_FILE at start-up);
`python third_party.py --make-fcm-account` writes a new account's key file and that list.
"""

import argparse
import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import itertools
import json
import logging
import math
import os
import random
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any, Self

import google.auth.jwt
import http_ece
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from google.auth import crypt
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import run_simple

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("target_user_uuid", "url", "alert_uuid", "location", "label")
RETRY_AFTER_STATUSES = frozenset({429, 503})
ENV_FIELDS = ("error_rate", "rate_limit_rate", "retry_after", "latency", "hang_rate", "hang_seconds")

# Addresses the emulated providers do not know, so tests can provoke their refusals.
UNKNOWN_SLACK_CHANNEL = "C0NOTFOUND"
UNKNOWN_WEBHOOK_ID = "notfound"
UNKNOWN_TELEGRAM_CHAT = "@notfound"
UNKNOWN_MAILBOX = "notfound"
# Twilio's own magic test number for "not a valid phone number" (error 21211).
INVALID_TWILIO_NUMBER = "+15005550001"
# FCM device tokens starting with these provoke FCM's refusals: 404 UNREGISTERED, 400 INVALID_ARGUMENT and
# 403 SENDER_ID_MISMATCH; each constant is such a token itself.
UNREGISTERED_FCM_TOKEN = "unregistered"
INVALID_FCM_TOKEN = "invalid"
MISMATCHED_FCM_TOKEN = "mismatch"
TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
TELEGRAM_MAX_TEXT = 4096
TWILIO_MAX_BODY = 1600

Message = dict[str, Any]


class InvalidSettings(ValueError):
    """Settings (of failures, of a service account) that do not validate; `errors` maps fields to reasons."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(reasons)}" for name, reasons in errors.items()))
        self.errors = errors


@dataclass
class FailureSettings:
    """How the stub misbehaves; the defaults are a healthy provider."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    latency: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    fail_next: int = 0
    fail_next_status: int = 500
    hang_next: int = 0

    @classmethod
    def from_env(cls) -> Self:
        """Healthy defaults overridden by the STUB_<FIELD> environment variables that are set."""
        changes = {
            name: _parse_env(os.environ[var])
            for name in ENV_FIELDS
            if (var := f"STUB_{name.upper()}") in os.environ
        }
        return cls().updated(changes)

    def updated(self, changes: Mapping[str, object]) -> Self:
        """A copy with `changes` applied, or InvalidSettings naming every bad field."""
        errors: dict[str, list[str]] = {}
        for name, value in changes.items():
            reason = _field_error(name, value)
            if reason:
                errors[name] = [reason]
        if errors:
            raise InvalidSettings(errors)
        return replace(self, **{name: FIELD_TYPES[name](value) for name, value in changes.items()})


FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in fields(FailureSettings)}


def _parse_env(raw: str) -> object:
    # JSON keeps "1" an int and "0.5" a float, so env values share the validation of PUT /control.
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _field_error(name: str, value: object) -> str | None:
    kind = FIELD_TYPES.get(name)
    if kind is None:
        return "Unknown field."
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "Not a valid number."
    if kind is int and not isinstance(value, int):
        return "Not a valid integer."
    if not math.isfinite(value) or value < 0:
        return "Must be a finite number >= 0."
    if name.endswith("_rate") and value > 1:
        return "Must be between 0 and 1."
    if name == "fail_next_status" and (value < 400 or value not in HTTP_STATUS_CODES):
        return "Must be an HTTP error status (4xx or 5xx)."
    return None


@dataclass(frozen=True)
class Fault:
    """An injected failure: the status to answer, which setting caused it, the Retry-After to send."""

    status: int
    reason: str
    retry_after: int


class StubState:
    """What the stub remembers; every access holds the lock because the server is threaded."""

    def __init__(self, settings: FailureSettings, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._rng = rng
        # Each message with the channel it came in on; push messages keep their original wire format.
        self._messages: list[tuple[str, Message]] = []
        self._by_key: dict[tuple[str, str], Message] = {}
        self._edits: list[dict[str, Any]] = []
        self._rejected = 0
        # Provider events such as "fcm_tokens_issued", listed in the counters once they happened.
        self._tallies: Counter[str] = Counter()
        self._ids = itertools.count(1)
        # Requests being answered now, and the most at once since the last clear: how concurrent a sender is.
        self._open = 0
        self._most_open = 0

    def draw(self) -> tuple[float, Fault | None]:
        """Decide how the next POST goes: seconds to wait before answering, and the failure to inject."""
        with self._lock:
            s = self._settings
            delay, status, reason = s.latency, None, ""
            if s.fail_next:
                s.fail_next -= 1
                status, reason = s.fail_next_status, "fail_next"
            elif s.hang_next:
                s.hang_next -= 1
                delay, status, reason = s.hang_seconds, 504, "hang_next"
            elif self._chance(s.hang_rate):
                delay, status, reason = s.hang_seconds, 504, "hang_rate"
            elif self._chance(s.error_rate):
                status, reason = 500, "error_rate"
            elif self._chance(s.rate_limit_rate):
                status, reason = 429, "rate_limit_rate"
            if status is None:
                return delay, None
            self._rejected += 1
            return delay, Fault(status, reason, s.retry_after)

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Count a request as open while it is being answered."""
        with self._lock:
            self._open += 1
            self._most_open = max(self._most_open, self._open)
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1

    def _chance(self, rate: float) -> bool:
        # No draw at rate 0, so a seeded run replays the same outcomes whatever rates are unused.
        return rate > 0 and self._rng.random() < rate

    def record(
        self, body: Mapping[str, Any], key: str | None, received_at: float, channel: str = "push"
    ) -> tuple[Message, bool]:
        """Store a message, or count one more receipt of the one stored on `channel` under `key`."""
        with self._lock:
            if key is not None and (channel, key) in self._by_key:
                message = self._by_key[channel, key]
                message["receipts"] += 1
                return dict(message), True
            message = {**body, "idempotency_key": key, "received_at": received_at, "receipts": 1}
            self._messages.append((channel, message))
            if key is not None:
                self._by_key[channel, key] = message
            return dict(message), False

    def messages(self, alert_uuid: str | None = None, channel: str | None = None) -> list[Message]:
        """Copies of the stored messages, optionally only those of one alert and/or one channel."""
        with self._lock:
            return [
                dict(m)
                for c, m in self._messages
                if (alert_uuid is None or m.get("alert_uuid") == alert_uuid) and channel in (None, c)
            ]

    def next_id(self) -> int:
        """A fresh number for the ids that providers hand back (Telegram's message_id)."""
        with self._lock:
            return next(self._ids)

    def tally(self, event: str) -> None:
        """Count one more provider event, such as an FCM access token issued."""
        with self._lock:
            self._tallies[event] += 1

    def record_edit(self, channel: str, ref: str, text: str) -> None:
        """Keep an edit of a message sent earlier (Slack's chat.update, Telegram's editMessageText)."""
        with self._lock:
            self._edits.append({"channel": channel, "ref": ref, "text": text, "received_at": time.time()})

    def edits(self) -> list[dict[str, Any]]:
        """Copies of the edits received."""
        with self._lock:
            return [dict(edit) for edit in self._edits]

    def clear(self) -> None:
        """Forget every message, edit, the rejected counter and the event tallies; the settings stay."""
        with self._lock:
            self._messages.clear()
            self._by_key.clear()
            self._edits.clear()
            self._rejected = 0
            self._tallies.clear()
            self._most_open = self._open

    def control(self) -> dict[str, Any]:
        """The current settings and counters."""
        with self._lock:
            return {
                "settings": asdict(self._settings),
                "counters": {
                    **counts([m for _, m in self._messages]),
                    "rejected": self._rejected,
                    "open": self._open,
                    "most_open": self._most_open,
                    **self._tallies,
                },
            }

    def update(self, changes: Mapping[str, object]) -> dict[str, Any]:
        """Apply a validated subset of the settings; raises InvalidSettings."""
        with self._lock:
            self._settings = self._settings.updated(changes)
        return self.control()

    def reset(self) -> dict[str, Any]:
        """Back to a healthy provider."""
        with self._lock:
            self._settings = FailureSettings()
        return self.control()


def counts(messages: Sequence[Message]) -> dict[str, int]:
    """Unique messages, receipts including duplicates, and the difference."""
    raw = sum(m["receipts"] for m in messages)
    return {"count": len(messages), "raw_receipts": raw, "duplicates": raw - len(messages)}


bp = Blueprint("stub", __name__)


def _state() -> StubState:
    return current_app.extensions["stub"]


def _error(code: int, message: str, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "status": HTTP_STATUS_CODES[code], "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = code
    return response


@bp.post("/webhook/notifications/", strict_slashes=False)
def receive_notification() -> ResponseReturnValue:
    """Record a notification, or answer with the failure the settings inject."""
    received_at = time.time()
    body = request.get_json(silent=True)
    key = request.headers.get("Idempotency-Key")
    response, outcome = _answer(_state(), body, key, received_at)
    alert_uuid = body.get("alert_uuid") if isinstance(body, dict) else None
    log.info("notification alert_uuid=%s idempotency_key=%s outcome=%s", alert_uuid, key, outcome)
    return response


def _inject(state: StubState) -> Fault | None:
    """Wait as the settings say, then return the failure to answer with, if any."""
    delay, fault = state.draw()
    with state.answering():
        time.sleep(delay)
    return fault


def _faulty(response: Response, fault: Fault) -> Response:
    """`response` with the fault's status, and its Retry-After where providers send one."""
    response.status_code = fault.status
    if fault.status in RETRY_AFTER_STATUSES:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def _answer(state: StubState, body: object, key: str | None, received_at: float) -> tuple[Response, str]:
    fault = _inject(state)
    if fault is not None:
        response = _faulty(_error(fault.status, f"injected failure ({fault.reason})"), fault)
        return response, f"{fault.status} injected by {fault.reason}"
    if not isinstance(body, dict):
        return _error(400, "invalid JSON", {"_schema": ["Invalid input type."]}), "400 invalid JSON"
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    if missing:
        errors = {name: ["Missing data for required field."] for name in missing}
        return _error(400, "missing fields", errors), f"400 missing {','.join(missing)}"
    message, duplicate = state.record(body, key, received_at)
    if duplicate:
        reply = {"status": "accepted", "idempotency_key": key, "duplicate": True}
        return jsonify(reply), f"200 duplicate, receipt {message['receipts']}"
    response = jsonify({"status": "accepted", "idempotency_key": key})
    response.status_code = 201
    return response, "201 accepted"


def _store(
    state: StubState,
    channel: str,
    address: str,
    text: str,
    payload: Any,
    *,
    key: str | None = None,
    alert_uuid: str | None = None,
    **extra: Any,
) -> tuple[Message, bool]:
    """Record what a provider received, in the one shape every channel but push shares, plus `extra`."""
    body = {
        "channel": channel,
        "address": address,
        "text": text,
        "alert_uuid": alert_uuid,
        "payload": payload,
        **extra,
    }
    message, duplicate = state.record(body, key, time.time(), channel)
    log.info("%s message key=%s duplicate=%s", channel, key, duplicate)
    return message, duplicate


def _text_response(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _json_object() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


# Slack: the Web API answers 200 with {"ok": false, "error": code} when it refuses; rate limits are 429s.
SLACK_FAULT_ERRORS = {429: "ratelimited", 503: "service_unavailable", 504: "request_timeout"}


def _slack_refusal(error: str) -> Response:
    return jsonify({"ok": False, "error": error})


@bp.post("/slack/api/chat.postMessage")
def slack_post_message() -> ResponseReturnValue:
    """Slack's chat.postMessage with a bot token; the delivery id in message metadata is the dedup key."""
    fault = _inject(_state())
    if fault is not None:
        error = SLACK_FAULT_ERRORS.get(
            fault.status, "fatal_error" if fault.status >= 500 else "invalid_request"
        )
        return _faulty(_slack_refusal(error), fault)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        return _slack_refusal("not_authed")
    if not token.startswith("xoxb-"):
        return _slack_refusal("invalid_auth")
    body = _json_object()
    if body is None:
        return _slack_refusal("invalid_arguments")
    channel = body.get("channel")
    if not channel or channel == UNKNOWN_SLACK_CHANNEL:
        return _slack_refusal("channel_not_found")
    if not body.get("text") and not body.get("blocks"):
        return _slack_refusal("no_text")
    event = (body.get("metadata") or {}).get("event_payload") or {}
    key = request.headers.get("Idempotency-Key") or event.get("delivery_id")
    _store(
        _state(), "slack", channel, body.get("text", ""), body, key=key, alert_uuid=event.get("alert_uuid")
    )
    ts = f"{time.time():.6f}"
    return {
        "ok": True,
        "channel": channel,
        "ts": ts,
        "message": {"type": "message", "text": body.get("text")},
    }


@bp.post("/slack/api/chat.update")
def slack_update_message() -> ResponseReturnValue:
    """Slack's chat.update with a bot token: the edit is kept (GET /edits) under "<channel>:<ts>"."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token.startswith("xoxb-"):
        return _slack_refusal("not_authed")
    body = _json_object() or {}
    if not body.get("channel") or not body.get("ts"):
        return _slack_refusal("message_not_found")
    _state().record_edit("slack", f"{body['channel']}:{body['ts']}", str(body.get("text", "")))
    return {"ok": True, "channel": body["channel"], "ts": body["ts"], "text": body.get("text")}


# Slack incoming webhooks answer "ok", or a status with a short text code.
SLACK_WEBHOOK_FAULT_TEXTS = {
    400: "invalid_payload",
    403: "action_prohibited",
    404: "channel_not_found",
    410: "channel_is_archived",
    429: "rate_limited",
}


@bp.post("/slack/webhook/<path:hook_id>")
def slack_webhook(hook_id: str) -> ResponseReturnValue:
    """A Slack incoming webhook; it carries no delivery id, so every post counts."""
    fault = _inject(_state())
    if fault is not None:
        return _faulty(_text_response(SLACK_WEBHOOK_FAULT_TEXTS.get(fault.status, "rollup_error")), fault)
    if hook_id == UNKNOWN_WEBHOOK_ID:
        return _text_response("no_service", 404)
    body = _json_object()
    if body is None:
        return _text_response("invalid_payload", 400)
    if not body.get("text") and not body.get("blocks"):
        return _text_response("no_text", 400)
    _store(
        _state(),
        "slack",
        f"webhook/{hook_id}",
        body.get("text", ""),
        body,
        key=request.headers.get("Idempotency-Key"),
    )
    return _text_response("ok")


# Telegram's Bot API: {"ok": false, "error_code", "description"}, and a 429's wait in parameters.retry_after.
def _telegram_refusal(status: int, description: str, **parameters: int) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/telegram/bot<token>/editMessageText")
def telegram_edit_message_text(token: str) -> ResponseReturnValue:
    """Telegram's editMessageText: the edit is kept (GET /edits) under "<chat>:<message id>"."""
    if not TELEGRAM_TOKEN.fullmatch(token):
        return _telegram_refusal(401, "Unauthorized")
    body = _json_object() or {}
    chat_id, message_id, text = body.get("chat_id"), body.get("message_id"), body.get("text")
    if chat_id in (None, "") or not isinstance(message_id, int):
        return _telegram_refusal(400, "Bad Request: message to edit not found")
    if not text:
        return _telegram_refusal(400, "Bad Request: message text is empty")
    _state().record_edit("telegram", f"{chat_id}:{message_id}", text)
    return {"ok": True, "result": {"message_id": message_id, "chat": {"id": chat_id}, "text": text}}


@bp.post("/telegram/bot<token>/sendMessage")
def telegram_send_message(token: str) -> ResponseReturnValue:
    """Telegram's sendMessage; no delivery id travels, so every post counts."""
    fault = _inject(_state())
    if fault is not None:
        if fault.status == 429:
            # Telegram says how long to wait in the body, not in a Retry-After header.
            description = f"Too Many Requests: retry after {fault.retry_after}"
            return _telegram_refusal(429, description, retry_after=fault.retry_after)
        return _telegram_refusal(fault.status, HTTP_STATUS_CODES[fault.status])
    if not TELEGRAM_TOKEN.fullmatch(token):
        return _telegram_refusal(401, "Unauthorized")
    body = _json_object() or {}
    chat_id, text = body.get("chat_id"), body.get("text")
    if chat_id in (None, ""):
        return _telegram_refusal(400, "Bad Request: chat_id is empty")
    if not text:
        return _telegram_refusal(400, "Bad Request: message text is empty")
    if len(text) > TELEGRAM_MAX_TEXT:
        return _telegram_refusal(400, "Bad Request: message is too long")
    if chat_id == UNKNOWN_TELEGRAM_CHAT:
        return _telegram_refusal(400, "Bad Request: chat not found")
    _store(_state(), "telegram", str(chat_id), text, body, key=request.headers.get("Idempotency-Key"))
    result = {
        "message_id": _state().next_id(),
        "date": int(time.time()),
        "chat": {"id": chat_id},
        "text": text,
    }
    return {"ok": True, "result": result}


# Twilio: errors are {code, message, more_info, status}; its generic codes are 20000 + the HTTP status.
def _twilio_refusal(status: int, code: int, message: str) -> Response:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    response = jsonify({"code": code, "message": message, "more_info": more_info, "status": status})
    response.status_code = status
    return response


@bp.post("/twilio/2010-04-01/Accounts/<sid>/Messages.json")
def twilio_create_message(sid: str) -> ResponseReturnValue:
    """Twilio's Create a Message: form-encoded To/From/Body with HTTP basic auth; 201 with the message."""
    fault = _inject(_state())
    if fault is not None:
        refusal = _twilio_refusal(fault.status, 20000 + fault.status, HTTP_STATUS_CODES[fault.status])
        return _faulty(refusal, fault)
    auth = request.authorization
    if auth is None or auth.username != sid or not auth.password:
        return _twilio_refusal(401, 20003, "Authenticate")
    form = request.form
    to, sender, text = form.get("To"), form.get("From"), form.get("Body")
    if not to:
        return _twilio_refusal(400, 21604, "A 'To' phone number is required.")
    if not sender:
        return _twilio_refusal(400, 21603, "A 'From' phone number is required.")
    if not text:
        return _twilio_refusal(400, 21602, "Message body is required.")
    if to == INVALID_TWILIO_NUMBER:
        return _twilio_refusal(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if len(text) > TWILIO_MAX_BODY:
        return _twilio_refusal(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    _store(_state(), "sms", to, text, form.to_dict(), key=request.headers.get("Idempotency-Key"))
    message_sid = f"SM{uuid.uuid4().hex}"
    created = {
        "sid": message_sid,
        "account_sid": sid,
        "to": to,
        "from": sender,
        "body": text,
        "status": "queued",
        "num_segments": str(math.ceil(len(text) / 153)),
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": formatdate(usegmt=True),
        "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
    }
    response = jsonify(created)
    response.status_code = 201
    return response


@bp.post("/teams/webhook/<path:hook_id>")
def teams_webhook(hook_id: str) -> ResponseReturnValue:
    """A Microsoft Teams incoming webhook: a message activity with attachments; answers "1"."""
    fault = _inject(_state())
    if fault is not None:
        return _faulty(_text_response(HTTP_STATUS_CODES[fault.status]), fault)
    body = _json_object()
    attachments = body.get("attachments") if body else None
    if body is None or body.get("type") != "message" or not attachments or not isinstance(attachments, list):
        return _text_response("Bad payload received by generic incoming webhook.", 400)
    card = attachments[0].get("content") or {}
    text = "\n".join(
        block.get("text", "") for block in card.get("body", []) if block.get("type") == "TextBlock"
    )
    _store(_state(), "teams", f"webhook/{hook_id}", text, body, key=request.headers.get("Idempotency-Key"))
    return _text_response("1")


@bp.post("/webhook/generic/<path:hook_id>")
def generic_webhook(hook_id: str) -> ResponseReturnValue:
    """A Standard Webhooks receiver: checks signatures if STUB_WEBHOOK_SECRET is set; dedups by webhook-id."""
    fault = _inject(_state())
    if fault is not None:
        return _faulty(_error(fault.status, f"injected failure ({fault.reason})"), fault)
    secret = current_app.config["STUB_WEBHOOK_SECRET"]
    if secret:
        try:
            Webhook(secret).verify(request.get_data(), dict(request.headers), json_parse=False)
        except WebhookVerificationError as exc:
            return _error(401, f"bad signature: {exc}")
    body = _json_object()
    if body is None:
        return _error(400, "invalid JSON", {"_schema": ["Invalid input type."]})
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    key = request.headers.get("Idempotency-Key") or request.headers.get("webhook-id")
    address = f"generic/{hook_id}"
    _, duplicate = _store(
        _state(), "webhook", address, data.get("body", ""), body, key=key, alert_uuid=data.get("alert_uuid")
    )
    reply = {"status": "accepted", "webhook_id": key}
    if duplicate:
        return {**reply, "duplicate": True}
    response = jsonify(reply)
    response.status_code = 201
    return response


# Web Push (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID) answering as Mozilla's autopush does.
BASE64URL = re.compile(r"[A-Za-z0-9_-]*=*")
NON_NEGATIVE_INTEGER = re.compile(r"[0-9]+")
WEBPUSH_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
WEBPUSH_MAX_BODY = 4096
VAPID_MAX_LIFETIME = 24 * 60 * 60
# autopush's errno for the statuses an injected failure can take; 999 is its "unknown error".
WEBPUSH_FAULT_ERRNOS = {404: 102, 410: 106, 413: 104, 429: 201, 503: 201}

# FCM HTTP v1 and the Google OAuth token endpoint its senders get access tokens from.
SERVICE_ACCOUNT_FIELDS = ("client_email", "project_id", "public_key", "private_key_id")
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform"}
)
GRANT_MAX_LIFETIME = 3600
DEFAULT_TOKEN_EXPIRES_IN = 3599
SHORT_LIVED_GRANT = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential."
)
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
FCM_FAULT_ERROR_CODES = {
    400: "INVALID_ARGUMENT",
    404: "UNREGISTERED",
    429: "QUOTA_EXCEEDED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
FCM_TOKEN_REFUSALS = (
    (UNREGISTERED_FCM_TOKEN, 404, "Requested entity was not found.", "UNREGISTERED"),
    (
        INVALID_FCM_TOKEN,
        400,
        "The registration token is not a valid FCM registration token",
        "INVALID_ARGUMENT",
    ),
    (MISMATCHED_FCM_TOKEN, 403, "SenderId mismatch", "SENDER_ID_MISMATCH"),
)
FCM_TARGETS = ("token", "topic", "condition")
ANDROID_PRIORITIES = frozenset({"HIGH", "NORMAL"})
ANDROID_PRIORITY_TYPE = "type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority"
DURATION = re.compile(r"[0-9]+(\.[0-9]{1,9})?s")


class Refused(Exception):
    """A provider's refusal found by a check deep in a request: the view answers with its response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@bp.errorhandler(Refused)
def _answer_refusal(refused: Refused) -> Response:
    return refused.response


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: object) -> bytes:
    """Bytes from base64url, padded or not; ValueError for anything else."""
    if not isinstance(text, str) or not BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    unpadded = text.rstrip("=")
    return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Jwt:
    """A JWT taken apart, its signature not checked yet."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signed: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> Self:
        """Split `token`; ValueError unless header and claims are JSON objects and the signature base64url."""
        signed, _, signature = token.rpartition(".")
        header = google.auth.jwt.decode_header(token)
        claims = google.auth.jwt.decode(token, verify=False)
        return cls(header, claims, signed.encode(), _b64url_decode(signature))

    def signed_by(self, verifier: crypt.Verifier, algorithm: str) -> bool:
        """Whether the header names `algorithm` and `verifier` accepts the signature."""
        return self.header.get("alg") == algorithm and verifier.verify(self.signed, self.signature)


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
        keys = {"p256dh": _b64url(_uncompressed(self.private_key.public_key())), "auth": _b64url(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}


@dataclass(frozen=True)
class ServiceAccount:
    """A Google service account the FCM emulation trusts: its public key, never its private one."""

    client_email: str
    project_id: str
    private_key_id: str
    verifier: crypt.Verifier


@dataclass(frozen=True)
class AccessToken:
    """An OAuth access token the token endpoint issued: to which account, and until when."""

    client_email: str
    project_id: str
    expires_at: float


class PushServices:
    """What the Web Push and FCM emulations remember; every access holds the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: dict[str, WebPushSubscription] = {}
        self._accounts: dict[str, ServiceAccount] = {}
        self._tokens: dict[str, AccessToken] = {}

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

    def register(self, account: ServiceAccount) -> None:
        """Trust a service account's key, replacing the one it had."""
        with self._lock:
            self._accounts[account.client_email] = account

    def account(self, client_email: str) -> ServiceAccount | None:
        """The registered service account with this email, if any."""
        with self._lock:
            return self._accounts.get(client_email)

    def issue_token(self, account: ServiceAccount, expires_in: int) -> str:
        """A new access token for `account`, good for `expires_in` seconds."""
        token = f"ya29.stub-{secrets.token_urlsafe(32)}"
        with self._lock:
            self._tokens[token] = AccessToken(
                account.client_email, account.project_id, time.time() + expires_in
            )
        return token

    def access_token(self, token: str) -> AccessToken | None:
        """What the stub knows of an access token it issued, expired or not."""
        with self._lock:
            return self._tokens.get(token)


def _push() -> PushServices:
    return current_app.extensions["push"]


# Web Push: errors in Mozilla autopush's shape, {code, errno, error, message}.
def _autopush_refusal(code: int, errno: int, message: str) -> Response:
    response = jsonify({"code": code, "errno": errno, "error": HTTP_STATUS_CODES[code], "message": message})
    response.status_code = code
    return response


def _invalid_subscription(field: str, reason: str) -> Refused:
    return Refused(_error(400, "invalid subscription", {field: [reason]}))


def _subscription_field(
    body: Mapping[str, Any], name: str, parse: Callable[[bytes], Any], reason: str
) -> Any:
    """`body[name]` decoded from base64url and parsed, None if absent; Refused naming it if it cannot be."""
    if body.get(name) is None:
        return None
    try:
        return parse(_b64url_decode(body[name]))
    except ValueError:
        raise _invalid_subscription(name, reason) from None


@bp.post("/webpush/subscriptions")
def webpush_subscribe() -> ResponseReturnValue:
    """What a browser's pushManager.subscribe does: 201 with the PushSubscription JSON.

    Body: {application_server_key, private_key?, auth?} in base64url: the VAPID public key the subscription is
    bound to, the raw P-256 private scalar of the subscription's key pair and its 16-byte auth secret. The
    stub generates the key pair and auth secret not given, and never hands out a private key.
    """
    body = _json_object() or {}
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
    _push().subscribe(subscription_id, subscription)
    response = jsonify(subscription.as_json())
    response.status_code = 201
    return response


@bp.delete("/webpush/subscriptions/<subscription_id>")
def webpush_unsubscribe(subscription_id: str) -> ResponseReturnValue:
    """End a subscription, as a browser's unsubscribe does: later pushes to it answer 410."""
    if not _push().unsubscribe(subscription_id):
        return _error(404, "no such subscription")
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
        return Jwt.parse(values.get("t", "")), _p256_public_key(_b64url_decode(values.get("k", "")))
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
    if not _is_number(expires) or expires <= now:
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
    fault = _inject(_state())
    if fault is not None:
        errno = WEBPUSH_FAULT_ERRNOS.get(fault.status, 999)
        return _faulty(_autopush_refusal(fault.status, errno, f"injected failure ({fault.reason})"), fault)
    subscription = _push().subscription(subscription_id)
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
    _store(
        _state(),
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


# Google's OAuth token endpoint: {"error", "error_description"}, 400 for every refusal here.
def _refused_grant(error: str, description: str) -> Refused:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = 400
    return Refused(response)


def _service_account(entry: object) -> ServiceAccount:
    """A service account from its public registration; InvalidSettings naming every bad field."""
    if not isinstance(entry, dict):
        raise InvalidSettings({"_schema": ["Invalid input type."]})
    errors = {
        name: ["Must be a non-empty string."]
        for name in SERVICE_ACCOUNT_FIELDS
        if not isinstance(entry.get(name), str) or not entry[name]
    }
    if errors:
        raise InvalidSettings(errors)
    try:
        public_key = serialization.load_pem_public_key(entry["public_key"].encode())
    except (ValueError, UnsupportedAlgorithm):
        public_key = None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidSettings({"public_key": ["Not a PEM RSA public key."]})
    return ServiceAccount(
        entry["client_email"], entry["project_id"], entry["private_key_id"], crypt.RSAVerifier(public_key)
    )


def load_service_accounts(path: str) -> list[ServiceAccount]:
    """The service accounts of a JSON list of registrations; ValueError if the file does not give one."""
    try:
        entries = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(entries, list):
        raise ValueError(f"{path}: not a JSON list of service accounts")
    accounts = []
    for index, entry in enumerate(entries):
        try:
            accounts.append(_service_account(entry))
        except InvalidSettings as exc:
            raise ValueError(f"{path}, service account {index}: {exc}") from exc
    return accounts


def make_fcm_service_account(
    token_uri: str, project_id: str = "nootification-stub"
) -> tuple[dict[str, str], dict[str, str]]:
    """A new RSA service account: the key file a Google console downloads, and its registration here."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_email = f"fcm-sender-{secrets.token_hex(4)}@{project_id}.iam.gserviceaccount.com"
    private_key_id = secrets.token_hex(20)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    service_account = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": private_key_id,
        "private_key": private_pem.decode(),
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**21)).zfill(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + urllib.parse.quote(client_email),
        "universe_domain": "googleapis.com",
    }
    registration = {
        "client_email": client_email,
        "project_id": project_id,
        "public_key": public_pem.decode(),
        "private_key_id": private_key_id,
    }
    return service_account, registration


def write_fcm_account_files(service_account_path: Path, accounts_path: Path, token_uri: str) -> bool:
    """Write a new service account's key file (mode 0600) and the stub's list holding its registration.

    False, writing nothing, when both files exist; FileExistsError when only one does, so that a key file
    somebody uses is never replaced.
    """
    exists = [path.exists() for path in (service_account_path, accounts_path)]
    if all(exists):
        return False
    if any(exists):
        raise FileExistsError(f"only one of {service_account_path} and {accounts_path} exists")
    service_account, registration = make_fcm_service_account(token_uri)
    descriptor = os.open(service_account_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(service_account, file, indent=2)
    with accounts_path.open("x") as file:
        json.dump([registration], file, indent=2)
    return True


@bp.post("/fcm/service-accounts")
def register_service_account() -> ResponseReturnValue:
    """Trust a service account's public key, as creating a key in a cloud console does.

    Body: {client_email, project_id, public_key (PEM), private_key_id}; a second registration of the same
    client_email replaces its key.
    """
    try:
        account = _service_account(_json_object())
    except InvalidSettings as exc:
        return _error(400, "invalid service account", exc.errors)
    _push().register(account)
    registered = {
        "client_email": account.client_email,
        "project_id": account.project_id,
        "private_key_id": account.private_key_id,
    }
    return registered, 201


def _short_lived(claims: Mapping[str, Any]) -> bool:
    issued, expires, now = claims.get("iat"), claims.get("exp"), time.time()
    return (
        _is_number(issued)
        and _is_number(expires)
        and issued <= now < expires
        and expires - issued <= GRANT_MAX_LIFETIME
    )


def _granting_account(form: Mapping[str, str]) -> ServiceAccount:
    """The service account whose signed assertion `form` carries, checked as Google does; else Refused."""
    if form.get("grant_type") != JWT_BEARER_GRANT:
        raise _refused_grant("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
    if not form.get("assertion"):
        raise _refused_grant("invalid_request", "Missing required parameter: assertion")
    try:
        assertion = Jwt.parse(form["assertion"])
    except ValueError:
        raise _refused_grant("invalid_grant", "Invalid JWT: malformed assertion.") from None
    issuer = assertion.claims.get("iss")
    account = _push().account(issuer) if isinstance(issuer, str) else None
    if account is None:
        raise _refused_grant("invalid_grant", "Invalid grant: account not found")
    known_key = assertion.header.get("kid") in (None, account.private_key_id)
    if not known_key or not assertion.signed_by(account.verifier, "RS256"):
        raise _refused_grant("invalid_grant", "Invalid JWT Signature.")
    # google-auth always names Google's endpoint, whatever token_uri it posts to; a sender may name this one.
    if assertion.claims.get("aud") not in (GOOGLE_TOKEN_URL, request.base_url):
        raise _refused_grant("invalid_grant", "Invalid JWT: Failed audience check.")
    if not _short_lived(assertion.claims):
        raise _refused_grant("invalid_grant", SHORT_LIVED_GRANT)
    if not FCM_SCOPES & set(str(assertion.claims.get("scope", "")).split()):
        raise _refused_grant("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return account


@bp.post("/fcm/token")
def google_token() -> ResponseReturnValue:
    """Google's OAuth token endpoint for a service account's signed JWT (RFC 7523) as google-auth sends it."""
    account = _granting_account(request.form)
    expires_in = current_app.config["STUB_FCM_TOKEN_EXPIRES_IN"]
    token = _push().issue_token(account, expires_in)
    _state().tally("fcm_tokens_issued")
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}


# FCM HTTP v1: {"error": {code, message, status, details}}, an FcmError in details telling what FCM refused.
def _google_refusal(code: int, message: str, error_code: str | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": GOOGLE_STATUSES.get(code, "UNKNOWN")}
    if error_code is not None:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    response = jsonify({"error": error})
    response.status_code = code
    return response


def _check_fcm_caller(project_id: str) -> None:
    """Refused unless the bearer token is one the stub issued, unexpired, to an account of `project_id`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    issued = _push().access_token(token) if scheme.lower() == "bearer" else None
    if issued is None or issued.expires_at <= time.time():
        raise Refused(_google_refusal(401, UNAUTHENTICATED_MESSAGE))
    if issued.project_id != project_id:
        denied = (
            "Permission 'cloudmessaging.messages.create' denied on resource "
            f"'//cloudresourcemanager.googleapis.com/projects/{project_id}' (or it may not exist)."
        )
        raise Refused(_google_refusal(403, denied))


def _invalid_value(path: str, kind: str, value: object) -> str:
    return f"Invalid value at '{path}' ({kind}), {json.dumps(value)}"


def _string_map_problem(entries: object, path: str) -> str | None:
    if not isinstance(entries, dict):
        return _invalid_value(path, "type.googleapis.com/google.protobuf.Struct", entries)
    for index, value in enumerate(entries.values()):
        if not isinstance(value, str):
            return _invalid_value(f"{path}[{index}].value", "TYPE_STRING", value)
    return None


def _fcm_target_problem(message: Mapping[str, Any]) -> str | None:
    targets = [name for name in FCM_TARGETS if name in message]
    if not targets:
        return "Recipient of the message is not set."
    if len(targets) > 1:
        return f"Invalid value at 'message' (oneof field 'target' is already set. Cannot set '{targets[1]}')"
    if not isinstance(message[targets[0]], str):
        return _invalid_value(f"message.{targets[0]}", "TYPE_STRING", message[targets[0]])
    return None


def _android_problem(android: Mapping[str, Any]) -> str | None:
    priority, ttl = android.get("priority", "NORMAL"), android.get("ttl", "0s")
    if not isinstance(priority, str) or priority not in ANDROID_PRIORITIES:
        return _invalid_value("message.android.priority", ANDROID_PRIORITY_TYPE, priority)
    if not isinstance(ttl, str) or not DURATION.fullmatch(ttl):
        return _invalid_value("message.android.ttl", "type.googleapis.com/google.protobuf.Duration", ttl)
    return None


def _fcm_message_problem(message: object) -> str | None:
    """What FCM would say is wrong with a send's `message`, naming the field, or None."""
    if not isinstance(message, dict):
        return _invalid_value("message", "type.googleapis.com/google.firebase.fcm.v1.Message", message)
    problem = _fcm_target_problem(message) or _string_map_problem(message.get("data", {}), "message.data")
    if problem is not None:
        return problem
    parts = {name: message.get(name, {}) for name in ("notification", "android", "apns")}
    for name, part in parts.items():
        if not isinstance(part, dict):
            return _invalid_value(f"message.{name}", "TYPE_MESSAGE", part)
    return _android_problem(parts["android"]) or _string_map_problem(
        parts["apns"].get("headers", {}), "message.apns.headers"
    )


@bp.post("/fcm/v1/projects/<project_id>/messages:send")
def fcm_send(project_id: str) -> ResponseReturnValue:
    """FCM HTTP v1 messages:send with an access token from /fcm/token; 200 with the message's name.

    FCM has no idempotency key, so every send counts.
    """
    fault = _inject(_state())
    if fault is not None:
        error_code = FCM_FAULT_ERROR_CODES.get(fault.status, "UNSPECIFIED_ERROR")
        return _faulty(_google_refusal(fault.status, f"injected failure ({fault.reason})", error_code), fault)
    _check_fcm_caller(project_id)
    message = (_json_object() or {}).get("message")
    problem = _fcm_message_problem(message)
    if problem is not None:
        return _google_refusal(400, problem, "INVALID_ARGUMENT")
    device = message.get("token", "")
    for prefix, code, text, error_code in FCM_TOKEN_REFUSALS:
        if device.startswith(prefix):
            return _google_refusal(code, text, error_code)
    notification, data = message.get("notification", {}), message.get("data", {})
    parts = (notification.get("title"), notification.get("body"))
    text = "\n".join(part for part in parts if isinstance(part, str) and part)
    target = device or message.get("topic") or message.get("condition")
    _store(_state(), "fcm", target, text, message, alert_uuid=data.get("alert_uuid"))
    return {"name": f"projects/{project_id}/messages/0:{time.time_ns() // 1000}%{secrets.token_hex(8)}"}


@bp.get("/edits")
def list_edits() -> ResponseReturnValue:
    """The edits of messages sent earlier, as Slack and Telegram received them."""
    return {"edits": _state().edits()}


@bp.get("/messages")
def list_messages() -> ResponseReturnValue:
    """The stored messages, optionally filtered by ?alert_uuid= and ?channel=, with receipt counts."""
    messages = _state().messages(request.args.get("alert_uuid"), request.args.get("channel"))
    return {**counts(messages), "messages": messages}


@bp.delete("/messages")
def clear_messages() -> ResponseReturnValue:
    """Forget everything received."""
    _state().clear()
    return "", 204


@bp.get("/control")
def get_control() -> ResponseReturnValue:
    """The current failure settings and counters."""
    return _state().control()


@bp.put("/control")
def put_control() -> ResponseReturnValue:
    """Change some failure settings; 422 if any is unknown or out of range."""
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return _error(422, "invalid settings", {"_schema": ["Invalid input type."]})
    try:
        return _state().update(changes)
    except InvalidSettings as exc:
        return _error(422, "invalid settings", exc.errors)


@bp.post("/control/reset")
def reset_control() -> ResponseReturnValue:
    """Back to a healthy provider."""
    return _state().reset()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the service's answer, not a place to go (urllib would follow one to ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """Follow none."""
        return None


# Only HTTP(S): urllib would otherwise read file:// (or ftp://) URLs and answer with what it read.
_PRESS_OPENER = urllib.request.build_opener(_NoRedirects)
PRESS_SCHEMES = ("http", "https")


def _press(url: str, body: bytes, headers: Mapping[str, str]) -> ResponseReturnValue:
    """POST a button press to the service as the provider would, and answer with what the service said."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in PRESS_SCHEMES or not parts.hostname:
        return _error(422, "invalid press", {"url": ["Must be an http or https URL."]})
    call = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _PRESS_OPENER.open(call, timeout=10) as answer:
            status, reply = answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        status, reply = refused.code, refused.read()
    except OSError as error:
        return _error(502, f"the service did not answer: {error}")
    return Response(reply, status=status, mimetype="application/json")


@bp.post("/press/telegram")
def press_telegram_button() -> ResponseReturnValue:
    """Press an inline button as Telegram does: post a callback_query update to the bot's webhook.

    Body: {url, secret_token, chat_id, callback_data, from_id?}; the answer is the webhook's.
    """
    body = _json_object() or {}
    update = {
        "update_id": _state().next_id(),
        "callback_query": {
            "id": str(uuid.uuid4().int)[:19],
            "from": {"id": body.get("from_id", 1), "is_bot": False, "first_name": "Staff"},
            "message": {"message_id": _state().next_id(), "chat": {"id": body.get("chat_id")}},
            "chat_instance": "1",
            "data": body.get("callback_data", ""),
        },
    }
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": str(body.get("secret_token", "")),
    }
    return _press(str(body.get("url", "")), json.dumps(update).encode(), headers)


@bp.post("/press/slack")
def press_slack_button() -> ResponseReturnValue:
    """Press a Block Kit button as Slack does: a signed `payload=` form to the app's interactivity URL.

    Body: {url, signing_secret, channel, action_id, value, user_id?}; the answer is the service's.
    """
    body = _json_object() or {}
    payload = {
        "type": "block_actions",
        "user": {"id": body.get("user_id", "U0STAFF"), "name": "staff"},
        "channel": {"id": body.get("channel", "")},
        "actions": [
            {"action_id": body.get("action_id", ""), "value": body.get("value", ""), "type": "button"}
        ],
    }
    form = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()))
    secret = str(body.get("signing_secret", "")).encode()
    digest = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + form, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    return _press(str(body.get("url", "")), form, headers)


class SmtpRecorder:
    """aiosmtpd handler: records each mail on channel "email", with the same failure injection as HTTP.

    An injected failure refuses the recipient: 451 for what HTTP would answer 5xx, 408 or 429, 550 otherwise.
    The Message-ID is the dedup key, so a mail sent again by a retry counts as a duplicate.
    """

    def __init__(self, state: StubState) -> None:
        self.state = state

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept the recipient, or refuse it as an injected failure or an unknown mailbox would."""
        delay, fault = self.state.draw()
        await asyncio.sleep(delay)
        if fault is not None:
            if fault.status >= 500 or fault.status in {408, 429}:
                return f"451 4.3.0 Temporary failure, try again later (injected {fault.reason})"
            return f"550 5.7.1 Delivery refused (injected {fault.reason})"
        if address.partition("@")[0] == UNKNOWN_MAILBOX:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Record the mail: its plain-text part as the text, subject, sender and HTML part as the payload."""
        mail = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
        payload = {
            "from": envelope.mail_from,
            "subject": mail["Subject"],
            "message_id": mail["Message-ID"],
            "html": html.get_content().replace("\r\n", "\n") if html is not None else None,
        }
        # Mail travels with CRLF line ends; the record keeps the text as it was written.
        text = plain.get_content().replace("\r\n", "\n") if plain is not None else ""
        _store(self.state, "email", ", ".join(envelope.rcpt_tos), text, payload, key=mail["Message-ID"])
        return "250 Message accepted for delivery"


def start_smtp_server(
    state: StubState, *, host: str = "127.0.0.1", port: int = 2525, **options: Any
) -> Controller:
    """Start an SMTP server in a thread recording into `state`; `options` go to aiosmtpd (TLS, AUTH)."""
    controller = Controller(SmtpRecorder(state), hostname=host, port=port, **options)
    controller.start()
    return controller


def _token_expires_in() -> int:
    raw = os.environ.get("STUB_FCM_TOKEN_EXPIRES_IN", str(DEFAULT_TOKEN_EXPIRES_IN))
    if not NON_NEGATIVE_INTEGER.fullmatch(raw):
        raise ValueError(f"STUB_FCM_TOKEN_EXPIRES_IN must be a whole number of seconds, not {raw!r}")
    return int(raw)


def create_stub_app(settings: FailureSettings | None = None) -> Flask:
    """The stub provider app; settings default to FailureSettings.from_env(), the seed to STUB_SEED.

    STUB_WEBHOOK_SECRET, when set, is the Standard Webhooks secret that generic webhooks must be signed with.
    STUB_FCM_SERVICE_ACCOUNTS_FILE, when set, is a JSON list of the service accounts FCM trusts from the
    start, each as POST /fcm/service-accounts takes it. STUB_FCM_TOKEN_EXPIRES_IN is how many seconds an
    access token is good for (default 3599, as Google's). ValueError if any of them is wrong.
    """
    app = Flask(__name__)
    app.config["STUB_WEBHOOK_SECRET"] = os.environ.get("STUB_WEBHOOK_SECRET", "")
    app.config["STUB_FCM_TOKEN_EXPIRES_IN"] = _token_expires_in()
    # A copy, so the fail_next/hang_next countdown never touches the caller's object.
    initial = replace(settings) if settings is not None else FailureSettings.from_env()
    seed = os.environ.get("STUB_SEED")
    app.extensions["stub"] = StubState(initial, random.Random(int(seed) if seed else None))
    push = PushServices()
    accounts_file = os.environ.get("STUB_FCM_SERVICE_ACCOUNTS_FILE")
    for account in load_service_accounts(accounts_file) if accounts_file else []:
        push.register(account)
    app.extensions["push"] = push
    app.register_blueprint(bp)
    return app


def _make_fcm_account(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    service_account_path, accounts_path = map(Path, args.make_fcm_account)
    token_uri = args.token_uri or f"http://127.0.0.1:{args.port}/fcm/token"
    try:
        written = write_fcm_account_files(service_account_path, accounts_path, token_uri)
    except FileExistsError as exc:
        parser.error(f"{exc}: remove it, or name two new files")
    if written:
        print(f"Wrote {service_account_path} (the sender's secret key file) and {accounts_path}.")
    else:
        print(f"Kept the existing {service_account_path} and {accounts_path}.")
    print(f"Start the stub with STUB_FCM_SERVICE_ACCOUNTS_FILE={accounts_path} to trust the account.")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the stub provider with werkzeug's threaded server, or write an FCM service account and exit."""
    parser = argparse.ArgumentParser(
        description="Run the stub message providers: it records POST /webhook/notifications/, the "
        "Slack, Telegram, Twilio, Teams, generic webhook, Web Push (/webpush/...) and FCM (/fcm/...) paths "
        "and mail sent to its SMTP server (read and clear them with GET/DELETE /messages) and injects "
        "failures on demand (GET/PUT /control, POST /control/reset).",
        epilog="Initial failure settings come from STUB_ERROR_RATE, STUB_RATE_LIMIT_RATE, "
        "STUB_RETRY_AFTER, STUB_LATENCY, STUB_HANG_RATE and STUB_HANG_SECONDS; STUB_SEED (an integer) "
        "makes the random failures reproducible. STUB_WEBHOOK_SECRET makes generic webhooks check Standard "
        "Webhooks signatures. STUB_FCM_SERVICE_ACCOUNTS_FILE (a JSON list, as --make-fcm-account writes it) "
        "names the service accounts FCM trusts; STUB_FCM_TOKEN_EXPIRES_IN (seconds, default 3599) is how "
        "long their access tokens are good for.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--smtp-port", type=int, default=2525, help="port of the SMTP server (default: %(default)s)"
    )
    parser.add_argument(
        "--make-fcm-account",
        nargs=2,
        metavar=("SERVICE_ACCOUNT_JSON", "PUBLIC_ACCOUNTS_JSON"),
        help="write a new FCM service account instead of running: its key file, as a Google console gives "
        "it, for the sender (mode 0600), and the list of public keys for STUB_FCM_SERVICE_ACCOUNTS_FILE; "
        "when both files exist they are kept as they are",
    )
    parser.add_argument(
        "--token-uri",
        help="with --make-fcm-account: the token_uri written into the key file, where the sender gets its "
        "access tokens (default: http://127.0.0.1:PORT/fcm/token)",
    )
    args = parser.parse_args(argv)
    if args.token_uri and not args.make_fcm_account:
        parser.error("--token-uri goes with --make-fcm-account")
    if args.make_fcm_account:
        _make_fcm_account(parser, args)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = create_stub_app()
    except ValueError as exc:
        parser.error(f"bad STUB_* environment: {exc}")
    smtp = start_smtp_server(app.extensions["stub"], host=args.host, port=args.smtp_port)
    try:
        run_simple(args.host, args.port, app, threaded=True)
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
