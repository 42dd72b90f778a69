"""A stub of the message provider: records the notifications it receives and fails on demand."""

import argparse
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Self

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import run_simple

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("target_user_uuid", "url", "alert_uuid", "location", "label")
RETRY_AFTER_STATUSES = frozenset({429, 503})
ENV_FIELDS = ("error_rate", "rate_limit_rate", "retry_after", "latency", "hang_rate", "hang_seconds")

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
        self._messages: list[Message] = []
        self._by_key: dict[str, Message] = {}
        self._rejected = 0

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

    def _chance(self, rate: float) -> bool:
        # No draw at rate 0, so a seeded run replays the same outcomes whatever rates are unused.
        return rate > 0 and self._rng.random() < rate

    def record(self, body: Mapping[str, Any], key: str | None, received_at: float) -> tuple[Message, bool]:
        """Store a message, or count one more receipt of the message already stored under `key`."""
        with self._lock:
            if key is not None and key in self._by_key:
                message = self._by_key[key]
                message["receipts"] += 1
                return dict(message), True
            message = {**body, "idempotency_key": key, "received_at": received_at, "receipts": 1}
            self._messages.append(message)
            if key is not None:
                self._by_key[key] = message
            return dict(message), False

    def messages(self, alert_uuid: str | None = None) -> list[Message]:
        """Copies of the stored messages, optionally only those of one alert."""
        with self._lock:
            return [dict(m) for m in self._messages if alert_uuid is None or m["alert_uuid"] == alert_uuid]

    def clear(self) -> None:
        """Forget every message and the rejected counter; the settings stay."""
        with self._lock:
            self._messages.clear()
            self._by_key.clear()
            self._rejected = 0

    def control(self) -> dict[str, Any]:
        """The current settings and counters."""
        with self._lock:
            return {
                "settings": asdict(self._settings),
                "counters": {**counts(self._messages), "rejected": self._rejected},
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


def _answer(state: StubState, body: object, key: str | None, received_at: float) -> tuple[Response, str]:
    delay, fault = state.draw()
    time.sleep(delay)
    if fault is not None:
        response = _error(fault.status, f"injected failure ({fault.reason})")
        if fault.status in RETRY_AFTER_STATUSES:
            response.headers["Retry-After"] = str(fault.retry_after)
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


@bp.get("/messages")
def list_messages() -> ResponseReturnValue:
    """The stored messages, optionally filtered by ?alert_uuid=, with receipt counts."""
    messages = _state().messages(request.args.get("alert_uuid"))
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


def create_stub_app(settings: FailureSettings | None = None) -> Flask:
    """The stub provider app; settings default to FailureSettings.from_env(), the seed to STUB_SEED."""
    app = Flask(__name__)
    # A copy, so the fail_next/hang_next countdown never touches the caller's object.
    initial = replace(settings) if settings is not None else FailureSettings.from_env()
    seed = os.environ.get("STUB_SEED")
    app.extensions["stub"] = StubState(initial, random.Random(int(seed) if seed else None))
    app.register_blueprint(bp)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the stub provider with werkzeug's threaded server."""
    parser = argparse.ArgumentParser(
        description="Run the stub message provider: it records POST /webhook/notifications/ (read and "
        "clear them with GET/DELETE /messages) and injects failures on demand (GET/PUT /control, "
        "POST /control/reset).",
        epilog="Initial failure settings come from STUB_ERROR_RATE, STUB_RATE_LIMIT_RATE, "
        "STUB_RETRY_AFTER, STUB_LATENCY, STUB_HANG_RATE and STUB_HANG_SECONDS; STUB_SEED (an integer) "
        "makes the random failures reproducible.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = create_stub_app()
    except ValueError as exc:
        parser.error(f"bad STUB_* environment: {exc}")
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
