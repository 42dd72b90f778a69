"""The webhook sender against the stub's Standard Webhooks receiver over real loopback HTTP."""

import logging
import re
import traceback
from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError
from standardwebhooks.webhooks import Webhook

from nootification.senders.base import PermanentSendError, SendError, TransientSendError
from nootification.senders.webhook import EVENT_TYPE, WebhookConfigSchema, WebhookSender
from tests.helpers.assertions import assert_refused_and_unsent
from tests.helpers.config import free_port, make_config
from tests.helpers.factories import fail_next, make_message
from tests.helpers.stub import StubClient

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ="


@pytest.fixture
def signed_stub(monkeypatch, start_stub) -> StubClient:
    """A stub whose generic webhook refuses what is not signed with SECRET."""
    monkeypatch.setenv("STUB_WEBHOOK_SECRET", SECRET)
    return StubClient(start_stub())


@pytest.fixture
def sender(monkeypatch) -> WebhookSender:
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", SECRET)
    return WebhookSender(make_config(HTTP_READ_TIMEOUT=0.3))


def test_the_spec_test_vector_signs_as_published():
    # The example in the Standard Webhooks spec: this secret, id, timestamp and body give this signature.
    timestamp = datetime.fromtimestamp(1614265330, UTC)
    signature = Webhook(SECRET).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp, '{"test": 2432232314}')

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_posts_a_signed_envelope_the_receiver_verifies(sender, signed_stub):
    message = make_message(address=f"{signed_stub.url}/webhook/generic/hook-1")

    sender.send(message)

    [got] = signed_stub.messages(channel="webhook")["messages"]
    assert (got["address"], got["alert_uuid"]) == ("generic/hook-1", message.alert_uuid)
    assert got["idempotency_key"] == message.delivery_id
    assert got["payload"]["type"] == EVENT_TYPE
    assert got["payload"]["data"]["url"] == message.url
    assert got["payload"]["data"]["delivery_id"] == message.delivery_id


def test_a_retried_post_is_one_message_for_the_receiver(sender, signed_stub):
    message = make_message(address=f"{signed_stub.url}/webhook/generic/hook-1")

    sender.send(message)
    sender.send(message)

    listed = signed_stub.messages(channel="webhook")
    assert (listed["count"], listed["duplicates"]) == (1, 1)


def test_a_signature_with_another_secret_is_refused_as_permanent(signed_stub, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", OTHER_SECRET)
    sender = WebhookSender(make_config())

    with pytest.raises(PermanentSendError, match="HTTP 401"):
        sender.send(make_message(address=f"{signed_stub.url}/webhook/generic/hook-1"))

    assert signed_stub.messages()["count"] == 0


@pytest.mark.parametrize(
    ("control", "error", "reason"),
    [
        (fail_next(500), TransientSendError, "HTTP 500"),
        (fail_next(503), TransientSendError, "HTTP 503"),
        (fail_next(429), TransientSendError, "HTTP 429"),
        (fail_next(408), TransientSendError, "HTTP 408"),
        (fail_next(400), PermanentSendError, "HTTP 400"),
        (fail_next(404), PermanentSendError, "HTTP 404"),
        (fail_next(410), PermanentSendError, "HTTP 410"),
        ({"hang_next": 1, "hang_seconds": 0.6}, TransientSendError, "timeout"),
    ],
    ids=["500", "503", "429", "408", "400", "404", "410", "timeout"],
)
def test_failures_are_transient_or_permanent(sender, stub, control, error, reason):
    stub.control(**control)

    message = make_message(address=f"{stub.url}/webhook/generic/hook-1")
    assert_refused_and_unsent(sender, message, error, reason, stub, "webhook")


def test_retry_after_of_a_503_is_extracted(sender, stub):
    stub.control(**fail_next(503, retry_after=8))

    with pytest.raises(TransientSendError) as raised:
        sender.send(make_message(address=f"{stub.url}/webhook/generic/hook-1"))

    assert raised.value.retry_after == 8


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "WEBHOOK_SIGNING_SECRET is not set"),
        ("whsec_", "WEBHOOK_SIGNING_SECRET is not whsec_ + base64"),
    ],
)
def test_a_missing_or_malformed_secret_is_permanent_and_nothing_is_sent(stub, monkeypatch, value, reason):
    if value is None:
        monkeypatch.delenv("WEBHOOK_SIGNING_SECRET", raising=False)
    else:
        monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", value)

    with pytest.raises(PermanentSendError, match=re.escape(reason)):
        WebhookSender(make_config()).send(make_message(address=f"{stub.url}/webhook/generic/hook-1"))

    assert stub.messages()["raw_receipts"] == 0


def test_no_address_is_permanent(sender):
    with pytest.raises(PermanentSendError, match="no address"):
        sender.send(make_message(address=None))


@pytest.mark.parametrize("failure", ["unreachable", "refused"])
def test_the_secret_is_never_in_errors_or_logs(sender, signed_stub, monkeypatch, caplog, failure):
    caplog.set_level(logging.DEBUG, logger="nootification")
    if failure == "refused":
        monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", OTHER_SECRET)
    url = (
        f"http://127.0.0.1:{free_port()}/hook"
        if failure == "unreachable"
        else signed_stub.url + "/webhook/generic/1"
    )

    with pytest.raises(SendError) as raised:
        sender.send(make_message(address=url))

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("nootification"))
    for secret in (SECRET, OTHER_SECRET):
        assert secret.removeprefix("whsec_") not in ours + "".join(traceback.format_exception(raised.value))


def test_config_schema_accepts_an_https_url():
    assert WebhookConfigSchema().load({"address": "https://hooks.example.com/a"}) == {
        "address": "https://hooks.example.com/a"
    }


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ({"address": "http://hooks.example.com/a"}, "address"),
        ({"address": "ftp://hooks.example.com/a"}, "address"),
        ({"address": ""}, "address"),
        ({}, "address"),
        ({"address": "https://hooks.example.com/a", "secret": "x"}, "secret"),
    ],
)
def test_config_schema_refuses_what_is_not_an_https_url(contact, field):
    with pytest.raises(ValidationError) as raised:
        WebhookConfigSchema().load(contact)

    assert list(raised.value.messages) == [field]
