"""Who is calling: bearer tokens with scopes, and signed webhooks (Standard Webhooks) for alerts."""

import binascii
import json
import logging
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from redis.exceptions import RedisError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from nootification.extensions import redis_queue
from nootification.models import ApiToken
from nootification.services.tokens import ADMIN, ALERTS_WRITE, authenticate

log = logging.getLogger(__name__)

REPLAY_KEY = "nootification:webhook-id:"
TOKEN_KEY = "nootification.token"
WEBHOOK_ID_KEY = "nootification.webhook_id"
REPLAY_TTL_SECONDS = 15 * 60  # longer than the ±5 min a signature is accepted for


def _unauthorized(reason: str) -> Unauthorized:
    return Unauthorized(reason, www_authenticate=WWWAuthenticate("Bearer", {"realm": "nootification"}))


def presented_token() -> str | None:
    """The bearer token of the request, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def current_token() -> ApiToken | None:
    """The request's authenticated token; 401 when one is presented but unknown or revoked."""
    # Cached in the WSGI environ, which lives exactly as long as the request (g may outlive it).
    if TOKEN_KEY not in request.environ:
        presented = presented_token()
        token = authenticate(presented) if presented else None
        if presented and token is None:
            raise _unauthorized("The bearer token is unknown or revoked.")
        request.environ[TOKEN_KEY] = token
    return request.environ[TOKEN_KEY]


def has_scope(token: ApiToken, scope: str) -> bool:
    """Whether a token grants a scope; admin grants every scope."""
    return scope in token.scopes or ADMIN in token.scopes


def require_scope(scope: str) -> Callable[[], None]:
    """A before-request check: 401 without a valid token, 403 when the token lacks the scope."""

    def check() -> None:
        token = current_token()
        if token is None:
            raise _unauthorized("A bearer token is required.")
        if not has_scope(token, scope):
            raise Forbidden(f"The token lacks the {scope} scope.")

    return check


def ensure_may_act_for(user_uuid: str) -> None:
    """403 unless the token is admin or belongs to this user (preferences:self)."""
    token = current_token()
    if token is None or has_scope(token, ADMIN):
        return
    if token.user is None or token.user.user_uuid != user_uuid:
        raise Forbidden("This token may only read and change its own user's preferences.")


def _verify_signature() -> str:
    secrets = current_app.config["ALERT_WEBHOOK_SECRETS"]
    if not secrets:
        raise _unauthorized("Signed webhooks are not configured; use a bearer token.")
    body, headers = request.get_data(), dict(request.headers)
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return request.headers["webhook-id"]
        except WebhookVerificationError as error:
            reason = str(error)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            reason = "Malformed signature headers"
    raise _unauthorized(f"Webhook signature refused: {reason}.")


def _replayed_answer(webhook_id: str) -> Response | None:
    try:
        stored = redis_queue.connection.get(REPLAY_KEY + webhook_id)
    except RedisError:
        return None  # without the cache, the alert's own idempotency still prevents a second send
    if stored is None:
        return None
    answer = json.loads(stored)
    return current_app.response_class(answer["body"], status=answer["status"], mimetype="application/json")


def authenticate_alert_source() -> Response | None:
    """Accept an alert that is signed, or carries an alerts:write token, or (if allowed) neither.

    A signed webhook whose id was already answered gets that answer again, and nothing is processed.
    """
    if "webhook-signature" in request.headers:
        webhook_id = request.environ[WEBHOOK_ID_KEY] = _verify_signature()
        return _replayed_answer(webhook_id)
    if presented_token() is not None:
        require_scope(ALERTS_WRITE)()
        return None
    if not current_app.config["ALLOW_UNAUTHENTICATED_ALERTS"]:
        raise _unauthorized(
            "Alerts must be signed (Standard Webhooks) or carry an alerts:write bearer token."
        )
    return None


def remember_webhook_answer(response: Response) -> Response:
    """Keep the answer to a signed webhook so that a replay of its id gets the same answer."""
    webhook_id = request.environ.get(WEBHOOK_ID_KEY)
    if webhook_id and response.status_code in (200, 201):
        answer = json.dumps({"status": response.status_code, "body": response.get_data(as_text=True)})
        try:
            redis_queue.connection.set(REPLAY_KEY + webhook_id, answer, ex=REPLAY_TTL_SECONDS, nx=True)
        except RedisError as error:
            log.warning("could not remember webhook %s: %s", webhook_id, error)
    return response


def warn_if_alerts_are_open(app: Flask) -> None:
    """Say at start-up when alerts are accepted without a signature or token."""
    if app.config["ALLOW_UNAUTHENTICATED_ALERTS"]:
        log.warning("ALLOW_UNAUTHENTICATED_ALERTS is on: unsigned alerts without a token are accepted")
