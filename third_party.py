"""A stub of the message providers: records the notifications it receives and fails on demand.

One failure injection (GET/PUT /control) and one record (GET/DELETE /messages, ?channel= to filter) serve
every provider: the push provider, Slack, Telegram, Twilio, Teams, generic webhooks and an SMTP server.
Each provider path answers in that provider's own shapes, for successes, refusals and injected failures.
`POST /press/telegram` and `/press/slack` press a chat button as those providers do: a callback to the
service, with their secret token or signature.
"""

import argparse
import asyncio
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
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from email.utils import formatdate
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
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
TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
TELEGRAM_MAX_TEXT = 4096
TWILIO_MAX_BODY = 1600

Message = dict[str, Any]


class InvalidSettings(ValueError):
    """Failure settings that do not validate; `errors` maps each field to its reasons."""

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

    def record_edit(self, channel: str, ref: str, text: str) -> None:
        """Keep an edit of a message sent earlier (Slack's chat.update, Telegram's editMessageText)."""
        with self._lock:
            self._edits.append({"channel": channel, "ref": ref, "text": text, "received_at": time.time()})

    def edits(self) -> list[dict[str, Any]]:
        """Copies of the edits received."""
        with self._lock:
            return [dict(edit) for edit in self._edits]

    def clear(self) -> None:
        """Forget every message, edit and the rejected counter; the settings stay."""
        with self._lock:
            self._messages.clear()
            self._by_key.clear()
            self._edits.clear()
            self._rejected = 0
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
) -> tuple[Message, bool]:
    """Record what a provider received, in the one shape every channel but push shares."""
    body = {
        "channel": channel,
        "address": address,
        "text": text,
        "alert_uuid": alert_uuid,
        "payload": payload,
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


def _press(url: str, body: bytes, headers: Mapping[str, str]) -> ResponseReturnValue:
    """POST a button press to the service as the provider would, and answer with what the service said."""
    call = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(call, timeout=10) as answer:  # noqa: S310 - a URL the test gives
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

    Body: {url, signing_secret, channel, action_id, value}; the answer is the service's.
    """
    body = _json_object() or {}
    payload = {
        "type": "block_actions",
        "user": {"id": "U0STAFF", "name": "staff"},
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


def create_stub_app(settings: FailureSettings | None = None) -> Flask:
    """The stub provider app; settings default to FailureSettings.from_env(), the seed to STUB_SEED.

    STUB_WEBHOOK_SECRET, when set, is the Standard Webhooks secret that generic webhooks must be signed with.
    """
    app = Flask(__name__)
    app.config["STUB_WEBHOOK_SECRET"] = os.environ.get("STUB_WEBHOOK_SECRET", "")
    # A copy, so the fail_next/hang_next countdown never touches the caller's object.
    initial = replace(settings) if settings is not None else FailureSettings.from_env()
    seed = os.environ.get("STUB_SEED")
    app.extensions["stub"] = StubState(initial, random.Random(int(seed) if seed else None))
    app.register_blueprint(bp)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the stub provider with werkzeug's threaded server."""
    parser = argparse.ArgumentParser(
        description="Run the stub message providers: it records POST /webhook/notifications/, the "
        "Slack, Telegram, Twilio, Teams and generic webhook paths and mail sent to its SMTP server (read and "
        "clear them with GET/DELETE /messages) and injects failures on demand (GET/PUT /control, "
        "POST /control/reset).",
        epilog="Initial failure settings come from STUB_ERROR_RATE, STUB_RATE_LIMIT_RATE, "
        "STUB_RETRY_AFTER, STUB_LATENCY, STUB_HANG_RATE and STUB_HANG_SECONDS; STUB_SEED (an integer) "
        "makes the random failures reproducible.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--smtp-port", type=int, default=2525, help="port of the SMTP server (default: %(default)s)"
    )
    args = parser.parse_args(argv)
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
