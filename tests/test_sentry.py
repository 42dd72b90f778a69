"""Sentry: a real event reaches a local HTTP endpoint posing as Sentry, scrubbed of personal data."""

import base64
import gzip
import json
import os
import secrets
import threading
import uuid
from datetime import UTC, datetime

import pytest
import sentry_sdk
from flask import current_app
from werkzeug.wrappers import Request, Response

from nootification import create_app
from nootification.services.keys import key_ring, new_key
from nootification.services.staff_links import link_token
from tests.helpers.config import make_config


class FakeSentry:
    """Records the envelopes sentry-sdk posts to it."""

    def __init__(self):
        self.envelopes: list[list[dict]] = []
        self.received = threading.Event()

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        items = [json.loads(line) for line in body.splitlines() if line.strip().startswith(b"{")]
        self.envelopes.append(items)
        self.received.set()
        return Response("{}", mimetype="application/json")(environ, start_response)


@pytest.fixture
def fake_sentry(serve_app):
    sentry = FakeSentry()
    url = serve_app(sentry)
    yield sentry, url.replace("http://", "http://public@") + "/1"
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: reporting off again for the other tests


def test_an_unhandled_error_is_reported_scrubbed_with_release_and_environment(app, fake_sentry, monkeypatch):
    sentry, dsn = fake_sentry
    config = make_config(
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        SENTRY_DSN=dsn,
        SENTRY_ENVIRONMENT="test",
        SENTRY_RELEASE="nootification@9.9.9",
    )
    reporting = create_app(config)
    reporting.config["PROPAGATE_EXCEPTIONS"] = False

    def explode():
        raise RuntimeError("cannot reach camille@example.com at +33612345678 with noot_abcdefghijklmnop")

    reporting.add_url_rule("/explode", "explode", explode)
    response = reporting.test_client().get(
        "/explode", headers={"Authorization": "Bearer noot_abcdefghijklmnop"}
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    assert sentry.received.wait(5)

    events = [item for envelope in sentry.envelopes for item in envelope if "exception" in item]
    assert events, sentry.envelopes
    event = events[0]
    assert event["release"] == "nootification@9.9.9"
    assert event["environment"] == "test"
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    text = json.dumps(event)
    for secret in ("camille@example.com", "+33612345678", "noot_abcdefghijklmnop"):
        assert secret not in text
    assert "[email]" in exception["value"]


def test_keys_and_bare_link_tokens_in_frame_locals_never_reach_sentry(app, fake_sentry, monkeypatch):
    sentry, dsn = fake_sentry
    signing, older = new_key(), new_key()
    vapid = secrets.token_urlsafe(32)
    pem_line = base64.b64encode(secrets.token_bytes(48)).decode()
    account = json.dumps(
        {
            "type": "service_account",
            "private_key": f"-----BEGIN PRIVATE KEY-----\n{pem_line}\n-----END PRIVATE KEY-----\n",
        }
    )
    monkeypatch.setenv("WEBPUSH_VAPID_PRIVATE_KEY", vapid)
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", account)
    config = make_config(
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        SENTRY_DSN=dsn,
        SECRET_KEY=signing,
        SECRET_KEY_FALLBACKS=(older,),
    )
    reporting = create_app(config)
    reporting.config["PROPAGATE_EXCEPTIONS"] = False
    bare_token = link_token(str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC), signing)

    def explode():
        # Locals as code holds them: the configuration, the ring, the keys under ordinary names.
        config = current_app.config
        settings = dict(current_app.config)
        ring = key_ring(config)
        value = os.environ["WEBPUSH_VAPID_PRIVATE_KEY"]
        account_json = os.environ["FCM_SERVICE_ACCOUNT"]
        link = bare_token
        unused = len(ring) + len(settings) + len(value) + len(account_json)
        raise RuntimeError(f"could not use link {link} ({unused})")

    reporting.add_url_rule("/explode", "explode", explode)
    assert reporting.test_client().get("/explode").status_code == 500
    sentry_sdk.flush(timeout=5)
    assert sentry.received.wait(5)

    events = [item for envelope in sentry.envelopes for item in envelope if "exception" in item]
    assert events, sentry.envelopes
    [frame] = [
        f for f in events[0]["exception"]["values"][0]["stacktrace"]["frames"] if f["function"] == "explode"
    ]
    assert {"config", "settings", "ring", "value", "account_json", "link"} <= set(frame["vars"])
    text = json.dumps(events[0])
    for secret in (signing, older, vapid, pem_line, bare_token):
        assert secret not in text
    assert "[link]" in events[0]["exception"]["values"][0]["value"]
