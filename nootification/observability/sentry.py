"""Error reporting to Sentry, with tokens, secrets and personal data scrubbed from every event."""

from collections.abc import Mapping

import sentry_sdk
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

from nootification.observability.logs import mask

SECRET_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "webhook-signature",
        "x-api-key",
        "password",
        "token",
        # A service account's key, an access token, a push subscription's auth secret.
        "private_key",
        "access_token",
        "auth",
    }
)
SCRUBBED = "[scrubbed]"


def scrub(value):
    """A copy of an event's value with every string masked (tokens, secrets, emails, phone numbers)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: SCRUBBED if key.lower() in SECRET_KEYS else scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _before_send(event: dict, hint: dict) -> dict:
    return scrub(event)


def init_sentry(config: Mapping) -> None:
    """Report errors to Sentry when SENTRY_DSN is set: Flask, RQ and SQLAlchemy, personal data scrubbed."""
    if not config["SENTRY_DSN"]:
        return
    sentry_sdk.init(
        dsn=config["SENTRY_DSN"],
        release=config["SENTRY_RELEASE"],
        environment=config["SENTRY_ENVIRONMENT"],
        sample_rate=config["SENTRY_SAMPLE_RATE"],
        traces_sample_rate=config["SENTRY_TRACES_SAMPLE_RATE"],
        integrations=[FlaskIntegration(), RqIntegration(), SqlalchemyIntegration()],
        before_send=_before_send,
        before_send_transaction=_before_send,
    )
