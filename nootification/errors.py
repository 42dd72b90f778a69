"""The domain error tree and the one JSON error handler used for every failed request."""

import contextlib
import logging
from collections.abc import Callable
from http import HTTPStatus

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from nootification.extensions import db

log = logging.getLogger(__name__)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
INVALID_JSON = "Invalid JSON body."
FAILED_VALIDATION = "The request did not pass validation."
DATABASE_RETRY_AFTER_SECONDS = 2
FORM_VIEW = "nootification_accepts_form"
MEDIA_TYPES_VIEW = "nootification_media_types"


class NootificationError(Exception):
    """Base of the errors services raise; each maps to one HTTP status."""

    status_code = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, *, field: str | None = None, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors if errors is not None else ({field: [message]} if field else None)


class UnreadableBody(NootificationError):
    """The request body cannot be read as sent (JSON nested past the depth limit)."""

    status_code = HTTPStatus.BAD_REQUEST


class NotFound(NootificationError):
    """The named thing does not exist."""

    status_code = HTTPStatus.NOT_FOUND


class Conflict(NootificationError):
    """The request contradicts what is already stored."""

    status_code = HTTPStatus.CONFLICT


class Gone(NootificationError):
    """The named thing existed but is no longer usable."""

    status_code = HTTPStatus.GONE


class Forbidden(NootificationError):
    """The caller is known but may not do this."""

    status_code = HTTPStatus.FORBIDDEN


class TooLarge(NootificationError):
    """The request holds more than one request may."""

    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class InvalidInput(NootificationError):
    """The request is well formed but refers to something that cannot be accepted."""

    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


def error_body(status: int, message: str | None = None, errors: dict | None = None) -> dict:
    """The JSON shape of every error: code, status phrase, message and per-field reasons."""
    phrase = HTTPStatus(status).phrase
    body: dict = {"code": status, "status": phrase, "message": message or phrase}
    if errors:
        body["errors"] = errors
    return body


def _json_error(status: int, message: str | None = None, errors: dict | None = None) -> Response:
    response = jsonify(error_body(status, message, errors))
    response.status_code = status
    return response


def _field_errors(messages: dict) -> dict:
    # webargs nests reasons under the request part ("json", "query"); a JSON API client wants
    # the field names themselves, so the body's reasons are lifted to the top.
    flat: dict = {}
    for location, reasons in messages.items():
        if location == "json" and isinstance(reasons, dict):
            flat.update(reasons)
        elif location == "json":
            flat["_body"] = reasons
        else:
            flat[location] = reasons
    return flat


def handle_http_exception(error: HTTPException) -> Response:
    """Render any HTTP error (404, 405, 413, webargs' 400/422...) as the JSON error shape."""
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages:
        message = INVALID_JSON if error.code == 400 else FAILED_VALIDATION
        response = _json_error(error.code, message, _field_errors(messages))
    else:
        response = _json_error(error.code, error.description)
    # Keep what the error says beyond its body: WWW-Authenticate, Allow, Retry-After...
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response


def handle_domain_error(error: NootificationError) -> Response:
    """Render a service's domain error, dropping whatever the refused request had changed."""
    db.session.rollback()
    return _json_error(int(error.status_code), error.message, error.errors)


def handle_database_unavailable(error: OperationalError) -> Response:
    """Answer 503 with Retry-After when the database cannot be reached or stays locked: nothing was stored."""
    log.warning("database unavailable on %s %s: %s", request.method, request.path, error.orig)
    # The connection may be gone too; the session is discarded at the end of the request anyway.
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()
    response = _json_error(503, "The database is unavailable; nothing was stored. Try again shortly.")
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def handle_unexpected_error(error: Exception) -> Response:
    """Log an unexpected failure with its traceback and answer a 500 without details."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _json_error(500, "The server failed to handle the request.")


def accepts_form(view: Callable) -> Callable:
    """Mark a view that takes HTML form posts: the JSON-only check leaves it alone."""
    setattr(view, FORM_VIEW, True)
    return view


def accepts_media(*media_types: str) -> Callable[[Callable], Callable]:
    """Mark a view whose body is one of these media types instead of JSON: any other is refused with 415."""

    def mark(view: Callable) -> Callable:
        setattr(view, MEDIA_TYPES_VIEW, media_types)
        return view

    return mark


def require_json_body() -> None:
    """Refuse a request body that is not JSON with 415, before any view parses it (form views excepted; a
    view taking other media types refuses any but those, with a body or without)."""
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, FORM_VIEW, False):
        return
    media_types = getattr(view, MEDIA_TYPES_VIEW, None)
    if media_types is not None:
        if request.method in BODY_METHODS and request.mimetype not in media_types:
            raise UnsupportedMediaType(f"The request body must be {' or '.join(media_types)} (Content-Type).")
        return
    if request.method in BODY_METHODS and has_body and not request.is_json:
        raise UnsupportedMediaType("The request body must be JSON (Content-Type: application/json).")


def register_error_handlers(app: Flask) -> None:
    """Make every error, expected or not, a JSON response of one shape."""
    app.before_request(require_json_body)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(NootificationError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected_error)
