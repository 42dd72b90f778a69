"""Helpers shared by the channels that speak HTTP: one pooled session and status classification."""

import email.utils
import time

import requests

from nootification.senders.base import PermanentSendError, TransientSendError

RETRYABLE_STATUSES = frozenset({408, 429})


def new_session() -> requests.Session:
    """A pooled HTTP session, kept for the life of a sender so connections are reused."""
    session = requests.Session()
    session.headers["User-Agent"] = "nootification"
    return session


def post_json(session: requests.Session, url: str, payload: dict, *, headers: dict, timeout: tuple) -> None:
    """POST JSON and translate the outcome into nothing (2xx) or a transient/permanent `SendError`."""
    try:
        response = session.post(url, json=payload, headers=headers, timeout=timeout)
    except requests.Timeout as error:
        raise TransientSendError(f"timeout: {type(error).__name__}") from error
    except requests.RequestException as error:
        raise TransientSendError(f"connection error: {type(error).__name__}") from error
    raise_for_status(response)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def raise_for_status(response: requests.Response) -> None:
    """Classify an HTTP answer: 2xx is success, 5xx/408/429 transient, any other status permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"HTTP {status}: {response.text[:200]}"
    if status >= 500 or status in RETRYABLE_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientSendError(reason, http_status=status, retry_after=retry_after)
    raise PermanentSendError(reason, http_status=status)
