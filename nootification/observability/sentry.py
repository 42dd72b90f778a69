"""Error reporting to Sentry, with tokens, secrets and personal data scrubbed from every event."""

import os
import re
from collections.abc import Iterable, Mapping
from contextlib import suppress
from functools import partial

import sentry_sdk
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

from nootification.config import read_secret
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
        # Frame locals: the whole configuration, and the key ring or one of its keys under their usual names.
        "config",
        "ring",
        "key",
        "keys",
        "secret",
        "secrets",
    }
)
# Settings and environment variables that hold a secret: the key ring, webhook secrets, VAPID and FCM keys...
SECRET_NAME = re.compile(r"SECRET|PRIVATE_KEY|PASSWORD|TOKEN|SERVICE_ACCOUNT|AUTH", re.IGNORECASE)
# How a configuration's repr begins to show its keys: such a string is dropped whole, even cut short.
CONFIG_REPR = re.compile(r"""['"]SECRET_KEY['"]\s*:""")
SCRUBBED = "[scrubbed]"
SHORTEST_SECRET = 8  # shorter values would mask ordinary words


def _is_secret_name(name: str) -> bool:
    return name.lower() in SECRET_KEYS or SECRET_NAME.search(name) is not None


def scrub(value, secrets: Iterable[str] = ()):
    """A copy of an event's value with every string masked (tokens, secrets, emails, phone numbers), the
    values of `secrets` and the entries under a secret's name replaced."""
    if isinstance(value, str):
        if CONFIG_REPR.search(value):
            return SCRUBBED
        for secret in secrets:
            value = value.replace(secret, SCRUBBED)
        return mask(value)
    if isinstance(value, dict):
        return {
            key: SCRUBBED if _is_secret_name(str(key)) else scrub(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item, secrets) for item in value]
    return value


def _values(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        return [item for item in value if isinstance(item, str)]
    return []


def secret_values(config: Mapping, environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Every secret this process may hold: the settings and environment variables named as secrets (files
    named by `_FILE` read), longest first so that none is left half masked."""
    found = [value for name, item in config.items() if _is_secret_name(name) for value in _values(item)]
    for name in environ:
        if SECRET_NAME.search(name) and not name.endswith("_FILE"):
            found.append(environ[name])
        elif name.endswith("_FILE") and SECRET_NAME.search(name.removesuffix("_FILE")):
            with suppress(OSError):  # a secret that cannot be read is not held either
                found.append(read_secret(name.removesuffix("_FILE")) or "")
    lines = {line.strip() for value in found for line in value.splitlines()}
    return tuple(sorted((line for line in lines if len(line) >= SHORTEST_SECRET), key=len, reverse=True))


def _before_send(secrets: tuple[str, ...], event: dict, hint: dict) -> dict:
    return scrub(event, secrets)


def init_sentry(config: Mapping) -> None:
    """Report errors to Sentry when SENTRY_DSN is set: Flask, RQ and SQLAlchemy, personal data scrubbed."""
    if not config["SENTRY_DSN"]:
        return
    scrub_event = partial(_before_send, secret_values(config))
    sentry_sdk.init(
        dsn=config["SENTRY_DSN"],
        release=config["SENTRY_RELEASE"],
        environment=config["SENTRY_ENVIRONMENT"],
        sample_rate=config["SENTRY_SAMPLE_RATE"],
        traces_sample_rate=config["SENTRY_TRACES_SAMPLE_RATE"],
        integrations=[FlaskIntegration(), RqIntegration(), SqlalchemyIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
    )
