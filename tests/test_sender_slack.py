"""The Slack sender against the stub's Web API and incoming webhooks over real loopback HTTP."""

import logging
import traceback

import pytest
from marshmallow import ValidationError

from nootification.delivery.retry import QuickRetries
from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.slack import SlackConfigSchema, SlackSender, api_error
from tests.helpers.assertions import assert_refused_and_unsent
from tests.helpers.config import free_port, make_config
from tests.helpers.factories import fail_next, make_message
from third_party import UNKNOWN_SLACK_CHANNEL, UNKNOWN_WEBHOOK_ID

TOKEN = "xoxb-1111-2222-secret"
CHANNEL = "C0123456789"


def slack_sender(stub_url: str, **config) -> SlackSender:
    return SlackSender(
        make_config(SLACK_API_URL=f"{stub_url}/slack/api", HTTP_READ_TIMEOUT=0.3, **config),
    )


@pytest.fixture
def token(monkeypatch) -> str:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def sender(stub, token) -> SlackSender:
    return slack_sender(stub.url)


def test_posts_blocks_with_a_video_button_and_the_delivery_id_as_metadata(sender, stub):
    message = make_message(address=CHANNEL)

    sender.send(message)

    [received] = stub.messages(channel="slack")["messages"]
    assert (received["address"], received["alert_uuid"]) == (CHANNEL, message.alert_uuid)
    assert received["idempotency_key"] == message.delivery_id
    assert received["text"] == f"{message.subject}\n{message.body}\n{message.url}"
    header, section, actions = received["payload"]["blocks"]
    assert header["text"]["text"] == message.subject
    assert section["text"] == {"type": "plain_text", "text": message.body}
    assert actions["elements"][0]["url"] == message.url


def test_a_retried_post_is_one_message_for_the_receiver(sender, stub):
    message = make_message(address=CHANNEL)

    sender.send(message)
    sender.send(message)

    assert (stub.messages(channel="slack")["count"], stub.messages()["duplicates"]) == (1, 1)


def test_incoming_webhook_address_posts_there_without_a_token(stub, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    message = make_message(address=f"{stub.url}/slack/webhook/T000/B000/XXXX")

    slack_sender(stub.url).send(message)

    [received] = stub.messages(channel="slack")["messages"]
    assert received["address"] == "webhook/T000/B000/XXXX"
    assert received["payload"]["blocks"][-1]["elements"][0]["url"] == message.url


@pytest.mark.parametrize(
    ("control", "address", "error", "reason"),
    [
        (fail_next(500), CHANNEL, TransientSendError, "HTTP 500: Slack fatal_error"),
        (fail_next(503), CHANNEL, TransientSendError, "HTTP 503: Slack service_unavailable"),
        (fail_next(429), CHANNEL, TransientSendError, "HTTP 429: Slack ratelimited"),
        (fail_next(400), CHANNEL, PermanentSendError, "HTTP 400: Slack invalid_request"),
        ({}, UNKNOWN_SLACK_CHANNEL, PermanentSendError, "Slack channel_not_found"),
        ({"hang_next": 1, "hang_seconds": 0.6}, CHANNEL, TransientSendError, "timeout"),
        (fail_next(500), "webhook", TransientSendError, "HTTP 500: rollup_error"),
        (fail_next(429), "webhook", TransientSendError, "HTTP 429: rate_limited"),
        (fail_next(400), "webhook", PermanentSendError, "HTTP 400: invalid_payload"),
        (fail_next(404), "webhook", PermanentSendError, "HTTP 404: channel_not_found"),
        ({}, UNKNOWN_WEBHOOK_ID, PermanentSendError, "HTTP 404: no_service"),
    ],
    ids=[
        "500",
        "503",
        "429",
        "400",
        "channel-not-found",
        "timeout",
        "webhook-500",
        "webhook-429",
        "webhook-invalid-payload",
        "webhook-channel-not-found",
        "webhook-no-service",
    ],
)
def test_failures_are_transient_or_permanent(sender, stub, control, address, error, reason):
    if control:
        stub.control(**control)
    if address in ("webhook", UNKNOWN_WEBHOOK_ID):
        address = f"{stub.url}/slack/webhook/{'T1/B1/x' if address == 'webhook' else address}"

    assert_refused_and_unsent(sender, make_message(address=address), error, reason, stub, "slack")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ratelimited", TransientSendError),
        ("service_unavailable", TransientSendError),
        ("internal_error", TransientSendError),
        ("fatal_error", TransientSendError),
        ("request_timeout", TransientSendError),
        ("channel_not_found", PermanentSendError),
        ("invalid_auth", PermanentSendError),
        ("not_in_channel", PermanentSendError),
        ("is_archived", PermanentSendError),
    ],
)
def test_ok_false_codes_are_classified(code, error):
    # The stub answers its injected failures with HTTP statuses; Slack may also say these with a 200.
    assert type(api_error(code)) is error
    assert str(api_error(code)) == f"Slack {code}"


def test_ratelimited_carries_retry_after_and_is_left_to_rescheduling(stub, token):
    sender = SlackSender(make_config(SLACK_API_URL=f"{stub.url}/slack/api"))
    stub.control(**fail_next(429, retry_after=9))

    with pytest.raises(TransientSendError) as raised:
        sender.send(make_message(address=CHANNEL))

    assert raised.value.retry_after == 9
    # Longer than a slot waits: the delivery is rescheduled, no slot sleeps through it.
    assert not QuickRetries(wait_seconds=3.0).retries_now(raised.value, 1)


@pytest.mark.parametrize(("value", "error"), [("xoxp-not-a-bot", "invalid_auth"), ("", "is not set")])
def test_a_bad_or_missing_token_is_permanent(stub, monkeypatch, value, error):
    monkeypatch.setenv("SLACK_BOT_TOKEN", value)

    with pytest.raises(PermanentSendError, match=error):
        slack_sender(stub.url).send(make_message(address=CHANNEL))

    assert stub.messages()["count"] == 0


def test_no_address_is_permanent(sender):
    with pytest.raises(PermanentSendError, match="no address"):
        sender.send(make_message(address=None))


@pytest.mark.parametrize("failure", ["unreachable", "refused"])
def test_the_token_is_never_in_errors_or_logs(stub, token, caplog, failure):
    caplog.set_level(logging.DEBUG, logger="nootification")
    url = f"http://127.0.0.1:{free_port()}" if failure == "unreachable" else stub.url
    if failure == "refused":
        stub.control(**fail_next(500, times=3))

    with pytest.raises(TransientSendError) as raised:
        slack_sender(url).send(make_message(address=CHANNEL))

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("nootification"))
    assert TOKEN not in ours
    assert TOKEN not in "".join(traceback.format_exception(raised.value))


@pytest.mark.parametrize(
    "address", ["C0123456789", "G01234567AB", "D0123ABCDEF", "https://hooks.example.com/services/T1/B1/x"]
)
def test_config_schema_accepts_channel_ids_and_webhook_urls(address):
    assert SlackConfigSchema().load({"address": address}) == {"address": address}


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ({"address": "#general"}, "address"),
        ({"address": "c0123456789"}, "address"),
        ({"address": "http://hooks.example.com/services/T1/B1/x"}, "address"),
        ({"address": None}, "address"),
        ({}, "address"),
        ({"address": CHANNEL, "thread": "1"}, "thread"),
    ],
)
def test_config_schema_refuses_other_addresses(contact, field):
    with pytest.raises(ValidationError) as raised:
        SlackConfigSchema().load(contact)

    assert list(raised.value.messages) == [field]
