"""The Telegram sender against the stub's Bot API over real loopback HTTP."""

import logging
import traceback

import pytest
from marshmallow import ValidationError

from nootification.delivery.retry import QuickRetries
from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.telegram import MAX_TEXT, TelegramConfigSchema, TelegramSender
from tests.helpers.assertions import assert_refused_and_unsent
from tests.helpers.config import free_port, make_config
from tests.helpers.factories import fail_next, make_message
from third_party import UNKNOWN_TELEGRAM_CHAT

TOKEN = "123456789:AAH-secret_token_value"
CHAT = "-1001234567890"


def telegram_sender(api_url: str, **config) -> TelegramSender:
    return TelegramSender(make_config(TELEGRAM_API_URL=api_url, HTTP_READ_TIMEOUT=0.3, **config))


@pytest.fixture
def token(monkeypatch) -> str:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def sender(stub, token) -> TelegramSender:
    return telegram_sender(f"{stub.url}/telegram")


def test_sends_subject_body_and_link_to_the_chat(sender, stub):
    message = make_message(address=CHAT)

    sender.send(message)

    [received] = stub.messages(channel="telegram")["messages"]
    assert received["address"] == CHAT
    assert received["text"] == f"{message.subject}\n{message.body}\n{message.url}"


def test_a_long_body_is_cut_but_the_link_is_whole(sender, stub):
    message = make_message(address="@shop_alerts", body="x" * 5000)

    sender.send(message)

    [received] = stub.messages(channel="telegram")["messages"]
    assert len(received["text"]) == MAX_TEXT
    assert received["text"].endswith("…\n" + message.url)


@pytest.mark.parametrize(
    ("control", "address", "error", "reason"),
    [
        (
            fail_next(500),
            CHAT,
            TransientSendError,
            "Telegram 500: Internal Server Error",
        ),
        (fail_next(502), CHAT, TransientSendError, "Telegram 502"),
        (
            fail_next(429),
            CHAT,
            TransientSendError,
            "Too Many Requests: retry after",
        ),
        (fail_next(400), CHAT, PermanentSendError, "Telegram 400"),
        (fail_next(403), CHAT, PermanentSendError, "Telegram 403: Forbidden"),
        ({}, UNKNOWN_TELEGRAM_CHAT, PermanentSendError, "Telegram 400: Bad Request: chat not found"),
        ({"hang_next": 1, "hang_seconds": 0.6}, CHAT, TransientSendError, "timeout"),
    ],
    ids=["500", "502", "429", "400", "403-blocked", "chat-not-found", "timeout"],
)
def test_failures_are_transient_or_permanent(sender, stub, control, address, error, reason):
    if control:
        stub.control(**control)

    assert_refused_and_unsent(sender, make_message(address=address), error, reason, stub, "telegram")


def test_retry_after_comes_from_the_body_and_is_left_to_rescheduling(stub, token):
    sender = TelegramSender(make_config(TELEGRAM_API_URL=f"{stub.url}/telegram"))
    stub.control(fail_next=1, fail_next_status=429, retry_after=7)

    with pytest.raises(TransientSendError) as raised:
        sender.send(make_message(address=CHAT))

    assert raised.value.retry_after == 7
    # Longer than a slot waits: the delivery is rescheduled, no slot sleeps through it.
    assert not QuickRetries(wait_seconds=3.0).retries_now(raised.value, 1)
    assert stub.messages(channel="telegram")["count"] == 0


def test_retry_after_is_extracted_without_a_header(sender, stub):
    stub.control(fail_next=1, fail_next_status=429, retry_after=5)

    with pytest.raises(TransientSendError) as raised:
        sender.send(make_message(address=CHAT))

    assert raised.value.retry_after == 5


def test_a_wrong_token_is_permanent(sender, stub, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not-a-token")

    with pytest.raises(PermanentSendError, match="Telegram 401: Unauthorized"):
        sender.send(make_message(address=CHAT))


def test_missing_token_is_permanent_and_nothing_is_sent(stub, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN_FILE", raising=False)

    with pytest.raises(PermanentSendError, match="TELEGRAM_BOT_TOKEN is not set"):
        telegram_sender(f"{stub.url}/telegram").send(make_message(address=CHAT))

    assert stub.messages()["raw_receipts"] == 0


def test_token_can_come_from_a_file(stub, monkeypatch, tmp_path):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(tmp_path / "token"))

    telegram_sender(f"{stub.url}/telegram").send(make_message(address=CHAT))

    assert stub.messages(channel="telegram")["count"] == 1


def test_an_unreadable_token_file_is_permanent(stub, monkeypatch, tmp_path):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(tmp_path / "missing"))

    with pytest.raises(PermanentSendError, match="cannot read TELEGRAM_BOT_TOKEN_FILE"):
        telegram_sender(f"{stub.url}/telegram").send(make_message(address=CHAT))


@pytest.mark.parametrize("failure", ["unreachable", "server-error", "timeout"])
def test_the_token_in_the_url_is_never_in_errors_or_logs(stub, token, caplog, failure):
    caplog.set_level(logging.DEBUG, logger="nootification")
    api_url = f"http://127.0.0.1:{free_port()}" if failure == "unreachable" else f"{stub.url}/telegram"
    if failure == "server-error":
        stub.control(fail_next=3, fail_next_status=500)
    if failure == "timeout":
        stub.control(hang_next=3, hang_seconds=0.6)

    with pytest.raises(TransientSendError) as raised:
        telegram_sender(api_url).send(make_message(address=CHAT))

    # Our records only: the stub, playing Telegram, logs the paths it is asked for as a server would.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("nootification"))
    assert TOKEN not in ours
    assert TOKEN not in "".join(traceback.format_exception(raised.value))


@pytest.mark.parametrize(
    ("contact", "address"),
    [
        ({"address": -1001234567890}, "-1001234567890"),
        ({"address": "123456"}, "123456"),
        ({"address": "@shop_alerts"}, "@shop_alerts"),
    ],
)
def test_config_schema_accepts_chat_ids_and_channel_names(contact, address):
    assert TelegramConfigSchema().load(contact) == {"address": address}


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ({"address": "@abc"}, "address"),
        ({"address": "shop_alerts"}, "address"),
        ({"address": True}, "address"),
        ({"address": 1.5}, "address"),
        ({}, "address"),
        ({"address": "@shop_alerts", "silent": True}, "silent"),
    ],
)
def test_config_schema_refuses_what_is_not_a_chat(contact, field):
    with pytest.raises(ValidationError) as raised:
        TelegramConfigSchema().load(contact)

    assert list(raised.value.messages) == [field]
