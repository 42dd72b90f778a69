"""Protections on every request: rate limits, security headers, and refusal of NUL characters."""

from flask import Flask, current_app, request
from flask_smorest import Blueprint
from werkzeug.exceptions import UnprocessableEntity

from nootification.extensions import limiter

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


def add_security_headers(response):
    """Add the security headers, without overriding what a view set."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/docs"):
        response.headers["Content-Security-Policy"] = DOCS_CSP
        response.headers["Cache-Control"] = "public, max-age=3600"
    elif request.path.rstrip("/") == "/ops":
        response.headers["Content-Security-Policy"] = OPS_CSP
    return response


def drop_retry_after_where_meaningless(response):
    """Keep Retry-After on 429 and 503 answers alone: the rate limiter adds it to every answer."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def refuse_nul_characters() -> None:
    """422 for a NUL character anywhere in the request: no database stores one, PostgreSQL refuses it."""
    if "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string:
        raise UnprocessableEntity("NUL characters are not accepted.")
    body = request.get_data(cache=True) if request.content_length else b""
    if b"\x00" in body or b"\\u0000" in body:
        raise UnprocessableEntity("NUL characters are not accepted.")


def limit_by_setting(blueprint: Blueprint, setting: str) -> None:
    """Apply the rate limit named by a config setting to every route of a blueprint (once, at import)."""
    limiter.limit(lambda: current_app.config[setting])(blueprint)


def register_security(app: Flask) -> None:
    """Rate limits on Redis, security headers and input guards."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    # Flask runs after-request functions last registered first: this one must see the limiter's headers.
    app.after_request(drop_retry_after_where_meaningless)
    limiter.init_app(app)
    app.before_request(refuse_nul_characters)
    app.after_request(add_security_headers)
