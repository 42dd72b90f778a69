"""Sentry: a real event reaches a local HTTP endpoint posing as Sentry, scrubbed of personal data."""

import gzip
import json
import threading

import pytest
import sentry_sdk
from werkzeug.wrappers import Request, Response

from nootification import create_app
from tests.conftest import make_config


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
