"""Who is calling: bearer tokens with scopes, short-lived tickets for them, signed webhooks for alerts, and
whom the audit log names for a change."""

import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable

import click
from flask import Response, current_app, has_request_context, request
from redis.exceptions import RedisError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, ServiceUnavailable, Unauthorized

from nootification.errors import Conflict
from nootification.extensions import redis_queue
from nootification.models import ApiToken
from nootification.services.audit import SYSTEM, Actor
from nootification.services.directory import is_manager
from nootification.services.keys import TICKETS, signing_key, verifying_keys
from nootification.services.tokens import ADMIN, ALERTS_WRITE, PREFERENCES_SELF, authenticate, live_token

log = logging.getLogger(__name__)

REPLAY_KEY = "nootification:webhook-answer:"
TOKEN_KEY = "nootification.token"
WEBHOOK_ID_KEY = "nootification.webhook_id"
REPLAY_TTL_SECONDS = 15 * 60  # longer than the ±5 min a signature is accepted for
TICKET_TTL_SECONDS = 60
# API processes on several hosts may disagree on the time by this much.
TICKET_CLOCK_SKEW_SECONDS = 5
TICKET_PATTERN = re.compile(r"(\d{1,10})\.(\d{1,12})\.([0-9a-f]{64})", re.ASCII)


def unauthorized(reason: str) -> Unauthorized:
    """A 401 that names the bearer scheme, with the reason."""
    return Unauthorized(reason, www_authenticate=WWWAuthenticate("Bearer", {"realm": "nootification"}))


def presented_token() -> str | None:
    """The bearer token of the request, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def authenticated_token() -> ApiToken | None:
    """The live token the request's bearer value stands for, looked up once per request; None if none."""
    # Cached in the WSGI environ, which lives exactly as long as the request (g may outlive it).
    if TOKEN_KEY not in request.environ:
        presented = presented_token()
        request.environ[TOKEN_KEY] = authenticate(presented) if presented else None
    return request.environ[TOKEN_KEY]


def current_token() -> ApiToken | None:
    """The request's authenticated token; 401 when one is presented but unknown or revoked."""
    token = authenticated_token()
    if token is None and presented_token():
        raise unauthorized("The bearer token is unknown or revoked.")
    return token


def token_identity() -> str | None:
    """What the rate limits count a request against when its bearer token authenticates; None otherwise."""
    token = authenticated_token()
    return None if token is None else f"token:{token.id}"


def current_actor() -> Actor:
    """Who makes a change now: the request's token and client address, else the `flask` command being run."""
    if has_request_context():
        token = authenticated_token()
        name = "anonymous" if token is None else token.name
        return Actor(token_id=None if token is None else token.id, name=name, address=request.remote_addr)
    command = click.get_current_context(silent=True)
    if command is not None:
        # "flask tokens create" -> "cli: tokens create": the program's own name tells nothing.
        return Actor(token_id=None, name=f"cli: {command.command_path.partition(' ')[2]}".rstrip(": "))
    return SYSTEM


def has_scope(token: ApiToken, scope: str) -> bool:
    """Whether a token grants a scope; admin grants every scope."""
    return scope in token.scopes or ADMIN in token.scopes


def require_scope(scope: str) -> Callable[[], None]:
    """A before-request check: 401 without a valid token, 403 when the token lacks the scope."""

    def check() -> None:
        token = current_token()
        if token is None:
            raise unauthorized("A bearer token is required.")
        if not has_scope(token, scope):
            raise Forbidden(f"The token lacks the {scope} scope.")

    return check


def _ticket_signature(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def issue_ticket(token: ApiToken, *, now: float | None = None) -> str:
    """A ticket standing for the token for TICKET_TTL_SECONDS: `<token id>.<expiry>.<HMAC of both>`.

    For clients that cannot send an Authorization header (EventSource); being short-lived, a ticket
    that ends up in a URL or an access log is of no use for long.
    """
    key = signing_key(current_app.config, TICKETS)
    if key is None:
        raise ServiceUnavailable("SECRET_KEY is not set, so tickets cannot be signed.")
    expires = int(time.time() if now is None else now) + TICKET_TTL_SECONDS
    payload = f"{token.id}.{expires}"
    return f"{payload}.{_ticket_signature(key, payload)}"


def require_ticket(scope: str) -> None:
    """401 unless the `ticket` parameter is fresh and signed here for a live token; 403 without the scope.

    A ticket whose expiry lies further ahead than TICKET_TTL_SECONDS was not issued here, whatever its
    signature: one minted with a stolen key is as short-lived as ours.
    """
    match = TICKET_PATTERN.fullmatch(request.args.get("ticket", ""))
    if match is None:
        raise unauthorized("A ticket (from POST /ops/ticket) is required.")
    token_id, expires, signature = match.groups()
    keys = verifying_keys(current_app.config, TICKETS)
    if not keys:
        raise ServiceUnavailable("SECRET_KEY is not set, so tickets cannot be checked.")
    # Every key is tried, so the time taken does not tell which one signed.
    payload = f"{token_id}.{expires}"
    signed = [hmac.compare_digest(signature, _ticket_signature(key, payload)) for key in keys]
    if not any(signed):
        raise unauthorized("The ticket's signature is wrong.")
    now = time.time()
    if int(expires) < now:
        raise unauthorized("The ticket has expired; get a new one.")
    if int(expires) > now + TICKET_TTL_SECONDS + TICKET_CLOCK_SKEW_SECONDS:
        raise unauthorized("The ticket's expiry lies further ahead than a ticket lives; get a new one.")
    token = live_token(int(token_id))
    if token is None:
        raise unauthorized("The ticket's token is revoked.")
    if not has_scope(token, scope):
        raise Forbidden(f"The ticket's token lacks the {scope} scope.")


def ensure_may_act_for(user_uuid: str) -> None:
    """403 unless the token is admin or belongs to this user (preferences:self)."""
    token = current_token()
    if token is None or has_scope(token, ADMIN):
        return
    if token.user is None or token.user.user_uuid != user_uuid:
        raise Forbidden("This token may only read and change its own user's preferences.")


def ensure_manages(location_name: str) -> None:
    """401 without a token; 403 unless it is admin, or the own `preferences:self` token of one of the shop's
    managers (a person in one of its escalation tiers)."""
    token = current_token()
    if token is None:
        raise unauthorized("A bearer token is required.")
    if has_scope(token, ADMIN):
        return
    if (
        PREFERENCES_SELF not in token.scopes
        or token.user is None
        or not is_manager(token.user, location_name)
    ):
        raise Forbidden("Only an admin token or a manager of this shop (one of its escalation tiers) may.")


def _verify_signature() -> str:
    secrets = current_app.config["ALERT_WEBHOOK_SECRETS"]
    if not secrets:
        raise unauthorized("Signed webhooks are not configured; use a bearer token.")
    body, headers = request.get_data(), dict(request.headers)
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return request.headers["webhook-id"]
        except WebhookVerificationError as error:
            reason = str(error)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            reason = "Malformed signature headers"
    raise unauthorized(f"Webhook signature refused: {reason}.")


def _body_digest() -> str:
    return hashlib.sha256(request.get_data()).hexdigest()


def _replayed_answer(webhook_id: str) -> Response | None:
    try:
        stored = redis_queue.connection.get(REPLAY_KEY + webhook_id)
    except RedisError:
        return None  # without the cache, the alert's own idempotency still prevents a second send
    if stored is None:
        return None
    answer = json.loads(stored)
    if answer["digest"] != _body_digest():
        raise Conflict(
            "This webhook-id was already received with a different body; a new message needs a new id.",
            field="webhook-id",
        )
    return current_app.response_class(answer["body"], status=answer["status"], mimetype="application/json")


def authenticate_alert_source() -> Response | None:
    """Accept an alert that is signed, or carries an alerts:write token, or (if allowed) neither.

    A signed webhook whose id was already answered gets that answer again, and nothing is processed;
    the same id with a different body is a 409 (Standard Webhooks: an id names one message).
    """
    if "webhook-signature" in request.headers:
        webhook_id = request.environ[WEBHOOK_ID_KEY] = _verify_signature()
        return _replayed_answer(webhook_id)
    if presented_token() is not None:
        require_scope(ALERTS_WRITE)()
        return None
    if not current_app.config["ALLOW_UNAUTHENTICATED_ALERTS"]:
        raise unauthorized("Alerts must be signed (Standard Webhooks) or carry an alerts:write bearer token.")
    return None


def remember_webhook_answer(response: Response) -> Response:
    """Keep a signed webhook's answer and its body's digest: a replay of its id gets the same answer."""
    webhook_id = request.environ.get(WEBHOOK_ID_KEY)
    if webhook_id and response.status_code in (200, 201):
        body = response.get_data(as_text=True)
        answer = json.dumps({"status": response.status_code, "body": body, "digest": _body_digest()})
        try:
            redis_queue.connection.set(REPLAY_KEY + webhook_id, answer, ex=REPLAY_TTL_SECONDS, nx=True)
        except RedisError as error:
            log.warning("could not remember webhook %s: %s", webhook_id, error)
    return response
