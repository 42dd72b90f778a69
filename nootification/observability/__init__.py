"""Logs, metrics and error reporting, configured once per process; this package imports none of the domain."""

import uuid

from flask import Flask, g, request

from nootification.observability.logs import configure_logging
from nootification.observability.sentry import init_sentry


def _assign_request_id() -> None:
    g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex


def _echo_request_id(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def register_observability(app: Flask) -> None:
    """Configure logs and error reporting, and give every request an id."""
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    init_sentry(app.config)
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
