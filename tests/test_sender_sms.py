"""The SMS sender against the stub's Twilio Messages API over real loopback HTTP."""

import logging
import re
import traceback

import pytest
from marshmallow import ValidationError

from nootification.delivery.retry import QuickRetries
from nootification.senders.base import PermanentSendError, SendError, TransientSendError
from nootification.senders.segments import segments
from nootification.senders.twilio.rest import mask_numbers
from nootification.senders.twilio.sms import MAX_SEGMENTS, SmsConfigSchema, SmsSender
from tests.helpers.assertions import assert_refused_and_unsent
from tests.helpers.config import free_port, make_config
from tests.helpers.factories import fail_next, make_message
from third_party import INVALID_TWILIO_NUMBER

SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-auth-secret-42"
FROM = "+15005550006"
TO = "+33612345678"
PUBLIC_URL = "http://127.0.0.1:9"


def sms_sender(api_url: str, **config) -> SmsSender:
    settings = {
        "TWILIO_API_URL": api_url,
        "TWILIO_FROM_NUMBER": FROM,
        "HTTP_READ_TIMEOUT": 0.3,
        # The stub's status callbacks go to a loopback port nobody serves.
        "PUBLIC_URL": PUBLIC_URL,
        **config,
    }
    return SmsSender(make_config(**settings))


@pytest.fixture
def secrets(monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)


@pytest.fixture
def sender(stub, secrets) -> SmsSender:
    return sms_sender(f"{stub.url}/twilio")


def test_posts_to_from_and_body_with_the_link_and_asks_for_status_callbacks(sender, stub):
    message = make_message(address=TO)

    sender.send(message)

    [received] = stub.messages(channel="sms")["messages"]
    assert received["payload"] == {
        "To": TO,
        "From": FROM,
        "Body": f"{message.subject}\n{message.body}\n{message.url}",
        "StatusCallback": f"{PUBLIC_URL}/webhooks/twilio/sms-status",
    }


def test_without_a_public_url_no_status_callback_is_asked_for(stub, secrets):
    sender = sms_sender(f"{stub.url}/twilio", PUBLIC_URL="")

    sender.send(make_message(address=TO))

    [received] = stub.messages(channel="sms")["messages"]
    assert "StatusCallback" not in received["payload"]


def test_returns_twilios_message_sid_as_the_provider_reference(sender, stub):
    ref = sender.send(make_message(address=TO))

    assert re.fullmatch(r"SM[0-9a-f]{32}", ref)


def test_a_long_body_is_cut_to_two_segments_keeping_the_link(sender, stub):
    message = make_message(address=TO, body="word " * 500)

    sender.send(message)

    [received] = stub.messages(channel="sms")["messages"]
    assert segments(received["text"]) <= MAX_SEGMENTS
    assert received["text"].endswith("...\n" + message.url)


@pytest.mark.parametrize(
    ("control", "address", "error", "reason"),
    [
        (fail_next(500), TO, TransientSendError, "HTTP 500: Twilio 20500"),
        (fail_next(503), TO, TransientSendError, "HTTP 503: Twilio 20503"),
        (fail_next(429), TO, TransientSendError, "HTTP 429: Twilio 20429: Too Many Requests"),
        (fail_next(408), TO, TransientSendError, "HTTP 408"),
        (fail_next(400), TO, PermanentSendError, "HTTP 400: Twilio 20400"),
        (fail_next(404), TO, PermanentSendError, "HTTP 404: Twilio 20404"),
        (
            {},
            INVALID_TWILIO_NUMBER,
            PermanentSendError,
            "HTTP 400: Twilio 21211: The 'To' number +*********01",
        ),
        ({"hang_next": 1, "hang_seconds": 0.6}, TO, TransientSendError, "timeout"),
    ],
    ids=["500", "503", "429", "408", "400", "404", "invalid-number", "timeout"],
)
def test_failures_are_transient_or_permanent(sender, stub, control, address, error, reason):
    if control:
        stub.control(**control)

    assert_refused_and_unsent(sender, make_message(address=address), error, reason, stub, "sms")


def test_retry_after_header_is_extracted_and_left_to_rescheduling(stub, secrets):
    settings = {"TWILIO_API_URL": f"{stub.url}/twilio", "TWILIO_FROM_NUMBER": FROM}
    sender = SmsSender(make_config(**settings))
    stub.control(**fail_next(429, retry_after=6))

    with pytest.raises(TransientSendError) as raised:
        sender.send(make_message(address=TO))

    assert raised.value.retry_after == 6
    # Longer than a slot waits: the delivery is rescheduled, no slot sleeps through it.
    assert not QuickRetries(wait_seconds=3.0).retries_now(raised.value, 1)


@pytest.mark.parametrize("name", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_a_missing_secret_is_permanent_and_nothing_is_sent(stub, secrets, monkeypatch, name):
    monkeypatch.delenv(name)

    with pytest.raises(PermanentSendError, match=f"{name} is not set"):
        sms_sender(f"{stub.url}/twilio").send(make_message(address=TO))

    assert stub.messages()["raw_receipts"] == 0


def test_a_bad_from_number_is_permanent(stub, secrets):
    with pytest.raises(PermanentSendError, match="TWILIO_FROM_NUMBER"):
        sms_sender(f"{stub.url}/twilio", TWILIO_FROM_NUMBER="").send(make_message(address=TO))


@pytest.mark.parametrize("failure", ["unreachable", "not-found", "server-error"])
def test_secrets_and_numbers_are_never_in_errors_or_logs(stub, secrets, caplog, failure):
    caplog.set_level(logging.DEBUG, logger="nootification")
    url = f"http://127.0.0.1:{free_port()}" if failure == "unreachable" else f"{stub.url}/twilio"
    address = INVALID_TWILIO_NUMBER if failure == "not-found" else TO
    if failure == "server-error":
        stub.control(**fail_next(500, times=3))

    with pytest.raises(SendError) as raised:
        sms_sender(url).send(make_message(address=address))

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("nootification"))
    text = ours + "".join(traceback.format_exception(raised.value))
    for secret in (SID, AUTH_TOKEN, address):
        assert secret not in text


def test_mask_numbers_keeps_the_last_two_digits():
    assert (
        mask_numbers("The 'To' number +33612345678 is not valid")
        == "The 'To' number +*********78 is not valid"
    )


@pytest.mark.parametrize("address", ["+33612345678", "+15005550006", "+4915112345678"])
def test_config_schema_accepts_e164_numbers(address):
    assert SmsConfigSchema().load({"address": address}) == {"address": address}


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ({"address": "0612345678"}, "address"),
        ({"address": "+0612345678"}, "address"),
        ({"address": "+33 6 12 34 56 78"}, "address"),
        ({"address": "+1234567890123456"}, "address"),
        ({"address": 33612345678}, "address"),
        ({}, "address"),
        ({"address": TO, "sender": "ACME"}, "sender"),
    ],
)
def test_config_schema_refuses_what_is_not_e164(contact, field):
    with pytest.raises(ValidationError) as raised:
        SmsConfigSchema().load(contact)

    assert list(raised.value.messages) == [field]
