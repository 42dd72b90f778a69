"""Helpers shared by the channels that speak HTTP: one pooled session, one POST, status classification."""

import os
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from nootification.senders.base import PermanentSendError, TransientSendError

RETRYABLE_STATUSES = frozenset({408, 429})
DEFAULT_POOL_SIZE = 32  # WORKER_CONCURRENCY's default, for a sender built from a partial config
PROXY_VARIABLES = tuple(
    name for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy") for name in (base, base.upper())
)
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # in the order requests reads them
BAD_URL_ERRORS = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
)


def new_session(config: Mapping | None = None) -> requests.Session:
    """A pooled HTTP session, kept for the life of a sender: one connection per sending slot is reused."""
    pool_size = (config or {}).get("WORKER_CONCURRENCY", DEFAULT_POOL_SIZE)
    session = requests.Session()
    # Every sending slot of a worker shares this session: a pool smaller than the slots would close and
    # reopen connections (urllib3 keeps 10 per host by default).
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    _read_environment_once(session)
    return session


def _read_environment_once(session: requests.Session) -> None:
    # requests reads proxies, their exceptions, CA bundles and .netrc from the environment on every request:
    # a scan of os.environ that is a third of its CPU per POST. Without proxy variables, the CA bundle is
    # read here once, as requests would, and nothing is read again.
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return
    session.trust_env = False
    bundle = next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)
    if bundle:
        session.verify = bundle


def post(session: requests.Session, url: str, *, timeout: tuple, **kwargs: Any) -> requests.Response:
    """POST once and return the answer, whatever its status; network failures become TransientSendError."""
    try:
        # A redirected POST turns into a GET in requests; for an API or webhook it means a wrong address.
        return session.post(url, timeout=timeout, allow_redirects=False, **kwargs)
    # requests quotes the URL in its messages, and some URLs hold a token (Telegram's, a webhook's),
    # so the cause is named, not chained.
    except requests.Timeout as error:
        raise TransientSendError(f"timeout: {type(error).__name__}") from None
    except BAD_URL_ERRORS:
        raise PermanentSendError("not a valid http(s) URL") from None
    except requests.RequestException as error:
        raise TransientSendError(f"connection error: {type(error).__name__}") from None


def post_json(
    session: requests.Session, url: str, payload: dict, *, timeout: tuple, headers: dict | None = None
) -> requests.Response:
    """POST JSON and return a 2xx answer, or raise the transient/permanent `SendError` for its status."""
    response = post(session, url, json=payload, headers=headers, timeout=timeout)
    raise_for_status(response)
    return response


def is_transient(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 5xx, 408 and 429."""
    return status >= 500 or status in RETRYABLE_STATUSES


def raise_for_status(
    response: requests.Response, *, reason: str | None = None, retry_after: float | None = None
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


def json_body(response: requests.Response) -> dict:
    """The answer's JSON object, or an empty dict when it is not one (an HTML error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
