"""What the stub remembers: the messages of every channel and the edits; GET/DELETE /messages, GET /edits."""

import itertools
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from flask import Blueprint, current_app, has_request_context, request
from flask.typing import ResponseReturnValue

from stub.settings import FailureSettings, Fault

log = logging.getLogger(__name__)

bp = Blueprint("state", __name__)

Message = dict[str, Any]


class StubState:
    """What the stub remembers; every access holds the lock because the server is threaded."""

    def __init__(self, settings: FailureSettings, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._rng = rng
        # Each message with the channel it came in on; push messages keep their original wire format.
        self._messages: list[tuple[str, Message]] = []
        self._by_key: dict[tuple[str, str], Message] = {}
        # Who sent each receipt of a message and when (the client's address, by id() of the stored message):
        # which host delivered it, for benches that run workers on several addresses. Listed on request only.
        self._senders: dict[int, list[dict[str, Any]]] = {}
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

    def draw_sms_status(self) -> tuple[str, int | None, float]:
        """How the next SMS ends, as Twilio's status callback says: its status, error code and the pause
        before each callback."""
        with self._lock:
            s = self._settings
            if s.sms_undelivered_next:
                s.sms_undelivered_next -= 1
                return "undelivered", s.sms_error_code, s.sms_status_delay
            if s.sms_failed_next:
                s.sms_failed_next -= 1
                return "failed", s.sms_error_code, s.sms_status_delay
            return "delivered", None, s.sms_status_delay

    def draw_call_status(self) -> tuple[str, float]:
        """How the next call ends, as Twilio's status callback says, and the pause before that callback."""
        with self._lock:
            s = self._settings
            for status in ("no_answer", "busy", "failed"):
                name = f"voice_{status}_next"
                if getattr(s, name):
                    setattr(s, name, getattr(s, name) - 1)
                    return status.replace("_", "-"), s.voice_status_delay
            return "completed", s.voice_status_delay

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
        """Store a message, or count one more receipt of the one stored on `channel` under `key`; either way
        note the address it came from (none outside a request: the SMTP server's)."""
        sender = {"address": request.remote_addr if has_request_context() else None, "at": received_at}
        with self._lock:
            if key is not None and (channel, key) in self._by_key:
                message = self._by_key[channel, key]
                message["receipts"] += 1
                self._senders[id(message)].append(sender)
                return dict(message), True
            message = {**body, "idempotency_key": key, "received_at": received_at, "receipts": 1}
            self._messages.append((channel, message))
            self._senders[id(message)] = [sender]
            if key is not None:
                self._by_key[channel, key] = message
            return dict(message), False

    def messages(
        self, alert_uuid: str | None = None, channel: str | None = None, senders: bool = False
    ) -> list[Message]:
        """Copies of the stored messages, optionally only those of one alert and/or one channel; with
        `senders`, each with the address each of its receipts came from and when, in order."""
        with self._lock:
            return [
                {**m, "senders": [dict(s) for s in self._senders[id(m)]]} if senders else dict(m)
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

    def record_edit(self, channel: str, ref: str, text: str, buttons: list[str] | None = None) -> None:
        """Keep an edit of a message sent earlier (Slack's chat.update, Telegram's editMessageText), with the
        words of the buttons it keeps."""
        edit = {
            "channel": channel,
            "ref": ref,
            "text": text,
            "buttons": buttons or [],
            "received_at": time.time(),
        }
        with self._lock:
            self._edits.append(edit)

    def edits(self) -> list[dict[str, Any]]:
        """Copies of the edits received."""
        with self._lock:
            return [dict(edit) for edit in self._edits]

    def clear(self) -> None:
        """Forget every message, edit, the rejected counter and the event tallies; the settings stay."""
        with self._lock:
            self._messages.clear()
            self._by_key.clear()
            self._senders.clear()
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


def stub_state() -> StubState:
    """The running stub's record."""
    return current_app.extensions["stub"]


def store(
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


@bp.get("/edits")
def list_edits() -> ResponseReturnValue:
    """The edits of messages sent earlier, as Slack and Telegram received them."""
    return {"edits": stub_state().edits()}


@bp.get("/messages")
def list_messages() -> ResponseReturnValue:
    """The stored messages, optionally filtered by ?alert_uuid= and ?channel=, with receipt counts; with
    ?senders=1, each with the client address and time of each of its receipts."""
    arguments = request.args
    messages = stub_state().messages(
        arguments.get("alert_uuid"), arguments.get("channel"), senders=arguments.get("senders") == "1"
    )
    return {**counts(messages), "messages": messages}


@bp.delete("/messages")
def clear_messages() -> ResponseReturnValue:
    """Forget everything received."""
    stub_state().clear()
    return "", 204
