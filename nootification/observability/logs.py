"""Log records as JSON lines (or text) carrying request, job, alert and delivery ids, with secrets masked."""

import contextvars
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import g, has_app_context, has_request_context

# Tokens, secrets, staff links, email addresses and phone numbers never reach a log line or an error report.
MASKS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [token]"),
    (re.compile(r"\bnoot_[A-Za-z0-9_-]{8,}"), "[token]"),
    (re.compile(r"\bxox[abeprs]-[A-Za-z0-9-]+"), "[token]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), "[secret]"),
    (re.compile(r"\bbot\d{5,12}:[A-Za-z0-9_-]{10,}|\b\d{5,12}:[A-Za-z0-9_-]{20,}"), "[token]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"\+[1-9]\d{6,14}\b"), "[phone]"),
    (re.compile(r"/s/[A-Za-z0-9_-]{40,}"), "/s/[link]"),
    # A staff link's token without its /s/ (an argument, a variable's value): 70 URL-safe characters.
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{70}(?![A-Za-z0-9_-])"), "[link]"),
    # Native push: a service account's key, Google access tokens, signed JWTs (VAPID, OAuth assertions).
    (
        # To the end of the text when its END line is gone (a value cut short by Sentry's length limit).
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.*?-----END [A-Z ]*PRIVATE KEY-----|.*)", re.DOTALL
        ),
        "[key]",
    ),
    (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), "[token]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "[jwt]"),
)
CONTEXT_FIELDS = ("alert_uuid", "delivery_id", "outcome")
_context: contextvars.ContextVar[dict] = contextvars.ContextVar("log_context", default={})  # noqa: B039
# Set by whatever runs a job (delivery.queue's job class): this floor knows no job runner.
_job_id: contextvars.ContextVar[str] = contextvars.ContextVar("job_id", default="-")


def mask(text: str) -> str:
    """The text with tokens, secrets, email addresses and phone numbers replaced by placeholders."""
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Name the job that every record logged inside the block comes from."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Attach fields (alert_uuid, delivery_id...) to every record logged inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the request id, the RQ job id and the current log context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        record.request_id = g.get("request_id", "-") if has_app_context() and has_request_context() else "-"
        record.job_id = _job_id.get()
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids and outcome when known."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as masked JSON."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "job_id": getattr(record, "job_id", "-"),
        }
        line.update({name: getattr(record, name) for name in CONTEXT_FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return mask(json.dumps(line, default=str))


class TextFormatter(logging.Formatter):
    """Human-readable lines, masked like the JSON ones."""

    def __init__(self):
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [request=%(request_id)s job=%(job_id)s] %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        """The record as a masked line."""
        return mask(super().format(record))


class _PackageHandler(logging.StreamHandler):
    """The package's own stderr handler, recognisable so it is installed once."""


def configure_logging(level: str, log_format: str) -> None:
    """Send the package's records to stderr as JSON lines or text; calling it again only updates them."""
    package_logger = logging.getLogger("nootification")
    package_logger.setLevel(level)
    handler = next((h for h in package_logger.handlers if isinstance(h, _PackageHandler)), None)
    if handler is None:
        handler = _PackageHandler()
        handler.addFilter(ContextFilter())
        package_logger.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
