"""How the stub misbehaves: its failure settings (PUT /control or STUB_*), checked, and the faults drawn."""

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Self

from werkzeug.http import HTTP_STATUS_CODES

ENV_FIELDS = ("error_rate", "rate_limit_rate", "retry_after", "latency", "hang_rate", "hang_seconds")


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
    # Twilio's SMS status callbacks: the next N messages end undelivered or failed (with sms_error_code)
    # instead of delivered, each callback posted sms_status_delay seconds after the one before.
    sms_undelivered_next: int = 0
    sms_failed_next: int = 0
    sms_error_code: int = 30003
    sms_status_delay: float = 0.5
    # Twilio's calls: the next N calls end no-answer, busy or failed (in that order of precedence) instead of
    # completed, their status callback posted voice_status_delay seconds after the call was created.
    voice_no_answer_next: int = 0
    voice_busy_next: int = 0
    voice_failed_next: int = 0
    voice_status_delay: float = 0.5

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
