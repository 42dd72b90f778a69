"""Protections on every request: rate limits, security headers, and guards on what a request may carry."""

import hashlib
import re
import time
from collections.abc import Callable, Iterator

from flask import Flask, current_app, request
from flask_smorest import Blueprint
from redis.exceptions import RedisError
from webargs.core import parse_json
from werkzeug.exceptions import UnprocessableEntity
from werkzeug.middleware.proxy_fix import ProxyFix

from nootification.auth import current_actor, token_identity
from nootification.errors import FAILED_VALIDATION, INVALID_JSON, Gone, InvalidInput, NotFound, UnreadableBody
from nootification.extensions import IDENTITY_KEY, client_identity, limiter, redis_queue
from nootification.services.audit import ACTOR_KEY
from nootification.services.staff_links import LINK_PATH as STAFF_PAGES
from nootification.services.staff_links import scope_of_link

# Answers that go without the rate-limit headers unless refused (see add_rate_limit_headers).
HEADERLESS_ENDPOINTS = frozenset({"webhooks.receive_alert"})

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
# The interactive docs are a page with its own scripts and styles, all served from here.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)
# The ops page: its own script and style files, and its event stream and ticket requests; nothing inline.
OPS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The staff page: its own script and style files, polls of its state, its forms, the clip from wherever
# the camera system keeps it, and its app's service worker and manifest (the worker runs under this policy).
STAFF_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "media-src https: http:; worker-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# One counter for every staff route of an address, whichever blueprint serves it.
STAFF_ADDRESS_SCOPE = "staff-per-address"
# The attribute a view's own body limit is kept in (see body_limit).
BODY_LIMIT_VIEW = "nootification_body_limit"
# No body of this API nests deeper than a few levels; past this, JSON parsers recurse towards their limit.
MAX_JSON_DEPTH = 32
# A JSON string (an unterminated one runs to the end, so that scanning stays linear) or a bracket.
JSON_NESTING_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]')
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE_REASON = "Must be valid Unicode text: a \\ud800-\\udfff escape is half of a surrogate pair."


def add_security_headers(response):
    """Add the security headers, without overriding what a view set."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/docs"):
        response.headers["Content-Security-Policy"] = DOCS_CSP
        response.headers["Cache-Control"] = "public, max-age=3600"
    elif request.path.rstrip("/") == "/ops":
        response.headers["Content-Security-Policy"] = OPS_CSP
    elif request.path.startswith(STAFF_PAGES):
        response.headers["Content-Security-Policy"] = STAFF_CSP
    return response


def add_rate_limit_headers(response):
    """X-RateLimit-Limit, -Remaining and -Reset on every limited answer, and Retry-After on a 429.

    Reading them costs a round trip to Redis after the limit's own, so the alert webhook's accepted answers go
    without: its client, the camera system, reads none of them, and it is the hottest path of the API.
    """
    limit = limiter.current_limit
    if limit is None or (response.status_code != 429 and request.endpoint in HEADERLESS_ENDPOINTS):
        return response
    try:
        remaining, reset_at = limit.remaining, limit.reset_at
    except RedisError:  # Redis went away since the limit was checked: no figures, as no limit
        return response
    response.headers["X-RateLimit-Limit"] = str(limit.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(reset_at)
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, int(reset_at - time.time())))
    return response


def body_limit(max_bytes: int) -> Callable[[Callable], Callable]:
    """Mark a view that takes bodies of up to `max_bytes` rather than MAX_CONTENT_LENGTH."""

    def mark(view: Callable) -> Callable:
        setattr(view, BODY_LIMIT_VIEW, max_bytes)
        return view

    return mark


def apply_body_limit() -> None:
    """Give the request its view's body limit, if the view has one, before anything reads the body."""
    limit = getattr(current_app.view_functions.get(request.endpoint), BODY_LIMIT_VIEW, None)
    if limit is not None:
        request.max_content_length = limit


def request_body() -> bytes:
    """The request body however it is framed (Content-Length or chunked); 413 past MAX_CONTENT_LENGTH."""
    body = request.get_data(cache=True)
    limit = request.max_content_length
    # Werkzeug refuses a Content-Length over the limit at once, but stops a body without one (chunked) at the
    # limit, and raises 413 only when it is read further: so a body that fills the limit is read once more.
    if request.content_length is None and limit is not None and len(body) >= limit:
        request.stream.read(1)
    return body


def refuse_nul_characters() -> None:
    """422 for a NUL character anywhere in the request: no database stores one, PostgreSQL refuses it."""
    if "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string:
        raise UnprocessableEntity("NUL characters are not accepted.")
    body = request_body()
    if b"\x00" in body or b"\\u0000" in body:
        raise UnprocessableEntity("NUL characters are not accepted.")


def _too_deep_field(body: bytes) -> str | None:
    """The top-level field whose value nests past MAX_JSON_DEPTH (`_body` if not in an object), or None."""
    depth, field, in_object = 0, "_body", body.lstrip().startswith(b"{")
    for match in JSON_NESTING_TOKEN.finditer(body):
        token = match[0]
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return field
        elif token in (b"]", b"}"):
            depth -= 1
        elif depth == 1 and in_object:
            # At the top of an object, the last string before a nested value opens is that value's key.
            field = token[1:].removesuffix(b'"').decode(errors="replace")
    return None


def _field_path(parent: str, name: str) -> str:
    # backslashreplace writes a lone surrogate in a key as its escape (\ud800), so the answer can name it.
    name = name.encode("utf-8", "backslashreplace").decode()
    return f"{parent}.{name}" if parent else name


def _lone_surrogate_paths(value: object, path: str) -> Iterator[str]:
    """The dotted path of each string, value or key, in parsed JSON that holds a lone surrogate."""
    if isinstance(value, str):
        if LONE_SURROGATE.search(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if LONE_SURROGATE.search(key):
                yield _field_path(path, key)
            yield from _lone_surrogate_paths(item, _field_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _lone_surrogate_paths(item, _field_path(path, str(index)))


def refuse_unsafe_json() -> None:
    """400 for a JSON body nested past MAX_JSON_DEPTH, 422 for a lone surrogate in it: each naming the field.

    Checked before any view parses the body: Python's json module recurses once per level until it fails, and
    a lone surrogate (a `\\ud800` escape without its pair) parses but can be neither encoded nor stored.
    """
    body = request_body()
    if not body or not request.is_json:
        return
    field = _too_deep_field(body)
    if field is not None:
        reason = f"Nested deeper than {MAX_JSON_DEPTH} arrays or objects."
        raise UnreadableBody(INVALID_JSON, errors={field: [reason]})
    try:
        document = parse_json(body)  # as the views' parser (webargs) reads it
    except ValueError:
        return  # not JSON: the view's parser answers 400 with its reason
    paths = _lone_surrogate_paths(document, "" if isinstance(document, dict) else "_body")
    errors = {path: [LONE_SURROGATE_REASON] for path in paths}
    if errors:
        raise InvalidInput(FAILED_VALIDATION, errors=errors)


def limit_by_setting(blueprint: Blueprint, setting: str) -> None:
    """Apply the rate limit named by a config setting to every route of a blueprint (once, at import)."""
    limiter.limit(lambda: current_app.config[setting])(blueprint)


def _presented_link() -> str | None:
    """The staff link a request acts through: in its path (`/s/<link>/...`) or in its JSON body (receipts)."""
    link = (request.view_args or {}).get("link")
    if link is None and request.is_json:
        body = request.get_json(silent=True)
        link = body.get("link") if isinstance(body, dict) else None
    return link if isinstance(link, str) and link else None


def staff_identity() -> str:
    """Whom a staff route's limit counts against: the link itself (as a hash, never the bearer value) when
    this service signed it, even expired; otherwise the token or address, as elsewhere.

    Made-up links thus share one count per address, and cannot use up a real link's, which has its own.
    """
    link = _presented_link()
    if link is None:
        return client_identity()
    try:
        scope_of_link(link)
    except NotFound:
        return client_identity()
    except Gone:
        pass
    return "link:" + hashlib.sha256(link.encode()).hexdigest()[:32]


def client_address() -> str:
    """The client's address, for the coarse caps that count every request of one address."""
    return "address:" + (request.remote_addr or "unknown")


def limit_staff_routes(blueprint: Blueprint) -> None:
    """RATELIMIT_STAFF per link (or token, or address without either) on every route of a staff blueprint,
    then RATELIMIT_STAFF_PER_ADDRESS per address over all of them.

    The per-link limit is checked first (flask-limiter orders limits by window length, then as declared: the
    defaults' are both a minute), and the limiter stops at the first one broken, so a request refused per link
    does not count against the address's cap.
    """
    limiter.limit(lambda: current_app.config["RATELIMIT_STAFF"], key_func=staff_identity)(blueprint)
    limiter.shared_limit(
        lambda: current_app.config["RATELIMIT_STAFF_PER_ADDRESS"],
        scope=STAFF_ADDRESS_SCOPE,
        key_func=client_address,
    )(blueprint)


def register_security(app: Flask) -> None:
    """Rate limits on Redis, security headers, input guards; client addresses from PROXY_HOPS proxies; who
    the audit log names."""
    if app.config["PROXY_HOPS"]:
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    if "RATELIMIT_STORAGE_URI" not in app.config:
        # The rate limits share the app's connection pool, so they reach Redis as everything else does
        # (redis_connection.connect), a Sentinel's current primary included.
        app.config["RATELIMIT_STORAGE_URI"] = "redis://"
        pool = redis_queue.connection_of(app).connection_pool
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {"connection_pool": pool}
    app.after_request(add_rate_limit_headers)
    app.extensions[IDENTITY_KEY] = token_identity
    app.extensions[ACTOR_KEY] = current_actor
    limiter.init_app(app)
    app.before_request(apply_body_limit)
    app.before_request(refuse_nul_characters)
    app.before_request(refuse_unsafe_json)
    app.after_request(add_security_headers)
