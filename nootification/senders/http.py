"""What the channels that speak HTTP share above the transport: a JSON POST, status classification."""

import time
from datetime import UTC
from email.utils import parsedate_to_datetime

from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.transport import Answer, HttpClient

RETRYABLE_STATUSES = frozenset({408, 429})


def post_json(
    client: HttpClient, url: str, payload: dict, *, timeout: tuple, headers: dict | None = None
) -> Answer:
    """POST JSON and return a 2xx answer, or raise the transient/permanent `SendError` for its status."""
    response = client.post(url, json=payload, headers=headers, timeout=timeout)
    raise_for_status(response)
    return response


def is_transient(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 5xx, 408 and 429."""
    return status >= 500 or status in RETRYABLE_STATUSES


def raise_for_status(
    response: Answer, *, reason: str | None = None, retry_after: float | None = None
) -> None:
    """Classify an HTTP answer: 2xx is success, 5xx/408/429 transient, any other status permanent.

    `reason` replaces the default "HTTP <status>: <body>" text; `retry_after` the Retry-After header.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = reason or f"HTTP {status}: {response.text[:200]}"
    if is_transient(status):
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientSendError(reason, http_status=status, retry_after=retry_after)
    raise PermanentSendError(reason, http_status=status)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": the date is in UTC, its source's zone unknown
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def json_body(response: Answer) -> dict:
    """The answer's JSON object, or an empty dict when it is not one (an HTML error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
