"""The push sender and the shared retry policy, against the stub provider over real loopback HTTP."""

import pytest
import sqlalchemy as sa
from marshmallow import Schema

from nootification.extensions import db
from nootification.models import Delivery, DeliveryStatus, Level
from nootification.senders import build_senders, channels, register
from nootification.senders.base import (
    Message,
    MessageSender,
    PermanentSendError,
    RetryPolicy,
    TransientSendError,
)
from nootification.senders.push import PushSender
from tests.conftest import free_port, make_config
from tests.factories import alert_payload, make_location, make_user


@pytest.fixture
def queued_delivery(client, db):
    make_user(make_location(), level=Level.STANDARD)
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).json["delivery_count"] == 1
    return payload["alert_uuid"]


def stored_delivery() -> Delivery:
    db.session.expire_all()
    return db.session.scalars(sa.select(Delivery)).one()


@pytest.mark.parametrize(
    ("control", "status", "attempts", "received", "error"),
    [
        ({}, DeliveryStatus.SENT, 1, 1, None),
        ({"fail_next": 2, "fail_next_status": 500}, DeliveryStatus.SENT, 3, 1, "HTTP 500"),
        ({"fail_next": 3, "fail_next_status": 503}, DeliveryStatus.FAILED, 3, 0, "HTTP 503"),
        ({"fail_next": 1, "fail_next_status": 429}, DeliveryStatus.SENT, 2, 1, "HTTP 429"),
        ({"fail_next": 1, "fail_next_status": 408}, DeliveryStatus.SENT, 2, 1, "HTTP 408"),
        ({"fail_next": 1, "fail_next_status": 400}, DeliveryStatus.FAILED, 1, 0, "HTTP 400"),
        ({"fail_next": 1, "fail_next_status": 404}, DeliveryStatus.FAILED, 1, 0, "HTTP 404"),
        ({"hang_next": 1, "hang_seconds": 1.5}, DeliveryStatus.SENT, 2, 1, "timeout"),
    ],
    ids=[
        "ok",
        "5xx-then-ok",
        "5xx-exhausted",
        "429-retried",
        "408-retried",
        "400-final",
        "404-final",
        "timeout",
    ],
)
def test_retry_policy_against_the_stub(
    queued_delivery, stub, run_worker, control, status, attempts, received, error
):
    if control:
        stub.control(**control)
    run_worker()
    delivery = stored_delivery()
    assert delivery.status is status
    assert delivery.attempts == attempts
    assert stub.messages(queued_delivery)["count"] == received
    if error is None:
        assert delivery.last_error is None
    else:
        assert error in delivery.last_error


def test_unreachable_provider_fails_after_every_attempt(app, queued_delivery, run_worker):
    app.config["THIRD_PARTY_URL"] = f"http://127.0.0.1:{free_port()}"
    app.extensions["nootification.senders"] = build_senders(app.config)
    run_worker()
    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert "connection error" in delivery.last_error


def sample_message() -> Message:
    return Message(
        delivery_id="d-1",
        user_uuid="u-1",
        address=None,
        alert_uuid="a-1",
        url="https://media.example.com/a.mp4",
        location="fr-auchan-larochelle",
        label="theft",
        severity="critical",
        time_spotted=1742470260.083,
    )


def sender_config(stub_url: str, **overrides) -> dict:
    config = {
        "THIRD_PARTY_URL": stub_url,
        "HTTP_CONNECT_TIMEOUT": 1.0,
        "HTTP_READ_TIMEOUT": 1.0,
        "SEND_MAX_ATTEMPTS": 3,
        "SEND_RETRY_WAIT": 3.0,
        "SEND_RETRY_AFTER_MAX": 30.0,
    }
    config.update(overrides)
    return config


def test_waits_the_configured_time_between_attempts(stub):
    waits: list[float] = []
    sender = PushSender(sender_config(stub.url, SEND_RETRY_WAIT=2.5), sleep=waits.append)
    stub.control(fail_next=2, fail_next_status=502)
    outcomes = []
    assert sender.deliver(sample_message(), on_attempt=outcomes.append) == 3
    assert waits == [2.5, 2.5]
    assert [outcome.number for outcome in outcomes] == [1, 2, 3]
    assert [type(outcome.error) for outcome in outcomes] == [
        TransientSendError,
        TransientSendError,
        type(None),
    ]


def test_attempt_count_is_configurable(stub):
    sender = PushSender(sender_config(stub.url, SEND_MAX_ATTEMPTS=5), sleep=lambda _: None)
    stub.control(fail_next=4, fail_next_status=500)
    assert sender.deliver(sample_message()) == 5


def test_a_4xx_is_raised_at_once_as_permanent(stub):
    sender = PushSender(sender_config(stub.url), sleep=lambda _: None)
    stub.control(fail_next=1, fail_next_status=422)
    with pytest.raises(PermanentSendError, match="HTTP 422"):
        sender.deliver(sample_message())


def test_wire_format_and_idempotency_key(stub):
    PushSender(sender_config(stub.url)).send(sample_message())
    [message] = stub.messages("a-1")["messages"]
    assert message["idempotency_key"] == "d-1"
    assert {key: message[key] for key in PushSender.payload(sample_message())} == PushSender.payload(
        sample_message()
    )


def test_push_is_registered_and_a_second_sender_for_it_is_refused():
    assert "push" in channels()

    class AnotherPush(MessageSender):
        channel = "push"

    with pytest.raises(ValueError, match="already registered"):
        register(AnotherPush)


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(None, 3.0), (1, 3.0), (7, 7.0), (3600, 30.0)],
    ids=["none", "shorter", "longer", "capped"],
)
def test_the_wait_honours_retry_after_up_to_the_cap(retry_after, wait):
    policy = RetryPolicy(max_attempts=3, wait_seconds=3.0, max_retry_after=30.0)

    assert policy.wait_after(TransientSendError("HTTP 429", retry_after=retry_after)) == wait


def test_every_channel_declares_its_facts():
    senders = build_senders(make_config())

    assert set(senders) == {"email", "push", "slack", "sms", "teams", "telegram", "webhook"}
    for channel, sender in senders.items():
        assert sender.channel == channel
        assert issubclass(sender.config_schema, Schema)
        assert all(name.isupper() for name in sender.secret_names)
