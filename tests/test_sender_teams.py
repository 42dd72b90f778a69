"""The Teams sender against the stub's incoming webhook over real loopback HTTP."""

import logging
import traceback

import pytest
from marshmallow import ValidationError

from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.teams import CARD_CONTENT_TYPE, TeamsConfigSchema, TeamsSender
from tests.helpers.assertions import assert_refused_and_unsent
from tests.helpers.config import free_port, make_config
from tests.helpers.factories import fail_next, make_message

HOOK = "webhook/tenant-1/IncomingWebhook/abc/sig-secret-123"


@pytest.fixture
def sender() -> TeamsSender:
    return TeamsSender(make_config(HTTP_READ_TIMEOUT=0.3))


def test_posts_an_adaptive_card_with_a_video_button(sender, stub):
    message = make_message(address=f"{stub.url}/teams/{HOOK}")

    sender.send(message)

    [received] = stub.messages(channel="teams")["messages"]
    assert received["address"] == HOOK
    assert received["text"] == f"{message.subject}\n{message.body}"
    [attachment] = received["payload"]["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Watch the video", "url": message.url}]


@pytest.mark.parametrize(
    ("control", "error", "reason"),
    [
        (fail_next(500), TransientSendError, "HTTP 500"),
        (fail_next(502), TransientSendError, "HTTP 502"),
        (fail_next(429), TransientSendError, "HTTP 429: Too Many Requests"),
        (fail_next(408), TransientSendError, "HTTP 408"),
        (fail_next(400), PermanentSendError, "HTTP 400"),
        (fail_next(404), PermanentSendError, "HTTP 404"),
        ({"hang_next": 1, "hang_seconds": 0.6}, TransientSendError, "timeout"),
    ],
    ids=["500", "502", "429", "408", "400", "404", "timeout"],
)
def test_failures_are_transient_or_permanent(sender, stub, control, error, reason):
    stub.control(**control)

    message = make_message(address=f"{stub.url}/teams/{HOOK}")
    assert_refused_and_unsent(sender, message, error, reason, stub, "teams")


def test_retry_after_is_extracted(sender, stub):
    stub.control(**fail_next(429, retry_after=4))

    with pytest.raises(TransientSendError) as raised:
        sender.send(make_message(address=f"{stub.url}/teams/{HOOK}"))

    assert raised.value.retry_after == 4


class CardlessTeamsSender(TeamsSender):
    """A sender whose payload lacks the card attachment Teams requires."""

    @staticmethod
    def payload(message):
        return {"type": "message", "text": message.body}


def test_a_payload_teams_refuses_is_permanent(stub):
    with pytest.raises(PermanentSendError, match="HTTP 400: Bad payload"):
        CardlessTeamsSender(make_config()).send(make_message(address=f"{stub.url}/teams/{HOOK}"))


@pytest.mark.parametrize(
    ("address", "reason"), [(None, "no address"), ("teams.example.com/hook", "valid http")]
)
def test_a_missing_or_bad_url_is_permanent(sender, address, reason):
    with pytest.raises(PermanentSendError, match=reason):
        sender.send(make_message(address=address))


def test_the_webhook_url_is_never_in_errors_or_logs(sender, caplog):
    caplog.set_level(logging.DEBUG, logger="nootification")
    url = f"http://127.0.0.1:{free_port()}/teams/{HOOK}"

    with pytest.raises(TransientSendError, match="connection error") as raised:
        sender.send(make_message(address=url))

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("nootification"))
    assert "sig-secret-123" not in ours + "".join(traceback.format_exception(raised.value))


def test_config_schema_accepts_an_https_url():
    url = "https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi"

    assert TeamsConfigSchema().load({"address": url}) == {"address": url}


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ({"address": "http://example.webhook.office.com/webhookb2/abc"}, "address"),
        ({"address": "example.webhook.office.com/webhookb2/abc"}, "address"),
        ({}, "address"),
        ({"address": "https://example.com/hook", "colour": "red"}, "colour"),
    ],
)
def test_config_schema_refuses_what_is_not_an_https_url(contact, field):
    with pytest.raises(ValidationError) as raised:
        TeamsConfigSchema().load(contact)

    assert list(raised.value.messages) == [field]
