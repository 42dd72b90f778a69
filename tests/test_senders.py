"""The push sender, and the retry policy through the worker, against the stub provider over loopback HTTP."""

import pytest
from marshmallow import Schema

from nootification.models import DeliveryStatus
from nootification.senders import build_senders, channels, channels_that, register
from nootification.senders.base import MessageSender
from nootification.senders.push import PushSender
from tests.helpers.config import free_port, make_config
from tests.helpers.factories import stored_delivery
from tests.helpers.senders import sample_message, sender_config

T, P, S = "transient", "permanent", "sent"


@pytest.mark.parametrize(
    ("control", "status", "ledger", "received", "error"),
    [
        ({}, DeliveryStatus.SENT, [S], 1, None),
        ({"fail_next": 2, "fail_next_status": 500}, DeliveryStatus.SENT, [T, T, S], 1, None),
        ({"fail_next": 3, "fail_next_status": 500}, DeliveryStatus.SCHEDULED, [T, T, T], 0, "HTTP 500"),
        ({"fail_next": 1, "fail_next_status": 503}, DeliveryStatus.SCHEDULED, [T], 0, "HTTP 503"),
        ({"fail_next": 1, "fail_next_status": 429}, DeliveryStatus.SCHEDULED, [T], 0, "HTTP 429"),
        ({"fail_next": 1, "fail_next_status": 408}, DeliveryStatus.SENT, [T, S], 1, None),
        ({"fail_next": 1, "fail_next_status": 400}, DeliveryStatus.FAILED, [P], 0, "HTTP 400"),
        ({"fail_next": 1, "fail_next_status": 404}, DeliveryStatus.FAILED, [P], 0, "HTTP 404"),
        ({"hang_next": 1, "hang_seconds": 1.5}, DeliveryStatus.SENT, [T, S], 1, None),
    ],
    ids=[
        "ok",
        "5xx-then-ok",
        "5xx-rescheduled",
        "503-retry-after",
        "429-retry-after",
        "408-retried",
        "400-final",
        "404-final",
        "timeout-retried",
    ],
)
def test_retry_policy_against_the_stub(
    queued_delivery, stub, run_worker, control, status, ledger, received, error
):
    if control:
        stub.control(**control)
    run_worker()
    delivery = stored_delivery()
    assert delivery.status is status
    assert delivery.attempts == len(ledger)
    assert [attempt.outcome.value for attempt in delivery.attempt_log] == ledger
    assert [attempt.number for attempt in delivery.attempt_log] == list(range(1, len(ledger) + 1))
    assert stub.messages(queued_delivery)["count"] == received
    if error is None:
        assert delivery.last_error is None
    else:
        assert error in delivery.last_error


def test_ledger_records_status_latency_and_error_of_each_attempt(queued_delivery, stub, run_worker):
    stub.control(fail_next=1, fail_next_status=502)
    run_worker()
    failed, sent = stored_delivery().attempt_log
    assert (failed.http_status, failed.error_class) == (502, "TransientSendError")
    assert "injected failure" in failed.error_message
    assert failed.finished_at >= failed.started_at
    assert failed.latency_ms > 0
    assert (sent.http_status, sent.error_class, sent.error_message) == (None, None, None)
    assert sent.started_at >= failed.finished_at


def test_unreachable_provider_is_retried_later_after_the_quick_attempts(app, queued_delivery, run_worker):
    app.config["THIRD_PARTY_URL"] = f"http://127.0.0.1:{free_port()}"
    app.extensions["nootification.senders"] = build_senders(app.config)
    run_worker()
    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.SCHEDULED
    assert delivery.attempts == 3
    assert "connection error" in delivery.last_error


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


def test_every_channel_declares_its_facts():
    senders = build_senders(make_config())

    staff_channels = {
        "email",
        "fcm",
        "push",
        "slack",
        "sms",
        "teams",
        "telegram",
        "voice",
        "webhook",
        "webpush",
    }
    assert set(senders) == {*staff_channels, "vendor"}
    assert set(channels()) == staff_channels  # the camera vendor's channel is nobody's contact point
    for channel, sender in senders.items():
        assert sender.channel == channel
        assert issubclass(sender.config_schema, Schema)
        assert all(name.isupper() for name in sender.secret_names)


def test_the_channels_say_what_they_can_do():
    assert channels_that("edits_messages") == ["slack", "telegram"]
    assert channels_that("sends_follow_ups") == ["email", "sms", "teams", "webhook"]
    assert channels_that("reads_as_text") == ["email", "slack", "sms", "teams", "telegram"]
    assert channels_that("rings") == ["voice"]
