"""Helpers shared by the channels that speak HTTP: one pooled session and status classification."""

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


def raise_for_status(response: requests.Response) -> None:
    """Classify an HTTP answer: 2xx is success, 5xx/408/429 transient, any other status permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"HTTP {status}: {response.text[:200]}"
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise TransientSendError(reason)
    raise PermanentSendError(reason)
