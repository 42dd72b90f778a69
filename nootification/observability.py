"""Logging and error reporting, configured once per process."""

import logging
import uuid

from flask import Flask, g, has_request_context, request
from rq import get_current_job

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [request=%(request_id)s job=%(job_id)s] %(message)s"


class ContextFilter(logging.Filter):
    """Adds the current request id and RQ job id to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        job = get_current_job()
        record.job_id = job.id if job is not None else "-"
        return True


def configure_logging(level: str) -> None:
    """Send the package's records to stderr with request and job ids; idempotent."""
    package_logger = logging.getLogger("nootification")
    package_logger.setLevel(level)
    if any(isinstance(handler, _ContextHandler) for handler in package_logger.handlers):
        return
    handler = _ContextHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    package_logger.addHandler(handler)


class _ContextHandler(logging.StreamHandler):
    """The package's own stderr handler, recognisable so it is installed once."""


def _assign_request_id() -> None:
    g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex


def _echo_request_id(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def init_sentry(dsn: str) -> None:
    """Report errors to Sentry when a DSN is configured."""
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(dsn=dsn, integrations=[FlaskIntegration(), RqIntegration()], send_default_pii=False)


def register_observability(app: Flask) -> None:
    """Configure logs and error reporting, and give every request an id."""
    configure_logging(app.config["LOG_LEVEL"])
    init_sentry(app.config["SENTRY_DSN"])
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
