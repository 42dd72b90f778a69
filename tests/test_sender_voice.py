"""The voice sender against the stub's Twilio Calls API over real loopback HTTP: its TwiML, its errors."""

import re
from xml.etree import ElementTree

import pytest
from marshmallow import ValidationError

from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.twilio.voice import VoiceConfigSchema, VoiceSender
from tests.helpers.assertions import assert_refused_and_unsent
from tests.helpers.config import make_config
from tests.helpers.factories import fail_next, make_message
from third_party import INVALID_TWILIO_NUMBER

SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-auth-secret-42"
FROM = "+15005550006"
TO = "+33612345678"
# The stub's status callbacks go to a loopback port nobody serves.
PUBLIC_URL = "http://127.0.0.1:9"


def voice_sender(api_url: str, **config) -> VoiceSender:
    settings = {
        "TWILIO_API_URL": api_url,
        "TWILIO_FROM_NUMBER": FROM,
        "HTTP_READ_TIMEOUT": 0.3,
        "PUBLIC_URL": PUBLIC_URL,
        **config,
    }
    return VoiceSender(make_config(**settings))


@pytest.fixture
def secrets(monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)


@pytest.fixture
def sender(stub, secrets) -> VoiceSender:
    return voice_sender(f"{stub.url}/twilio")


def test_places_a_call_whose_twiml_says_the_alert_in_french_and_waits_for_key_1(sender, stub):
    message = make_message(
        address=TO, body="Vol repéré à Auchan La Rochelle à 14:31 (critical).", locale="fr-FR"
    )

    ref = sender.send(message)

    [call] = stub.messages(channel="voice")["messages"]
    assert call["sid"] == ref and re.fullmatch(r"CA[0-9a-f]{32}", ref)
    payload = call["payload"]
    assert (payload["To"], payload["From"]) == (TO, FROM)
    assert payload["StatusCallback"] == f"{PUBLIC_URL}/webhooks/twilio/voice-status"
    assert payload["Twiml"] == call["text"]
    twiml = ElementTree.fromstring(call["text"])
    gather = twiml.find("Gather")
    assert gather.attrib == {
        "numDigits": "1",
        "action": f"{PUBLIC_URL}/webhooks/twilio/voice?delivery={message.delivery_id}",
        "method": "POST",
        "timeout": "8",
        "actionOnEmptyResult": "true",
    }
    [say] = gather.findall("Say")
    assert say.get("language") == "fr-FR"
    assert say.text == "Vol repéré à Auchan La Rochelle à 14:31 (critical). Appuyez sur 1 si vous y allez."
    assert [(e.tag, e.text) for e in twiml.findall("Say")] == [("Say", "Au revoir.")]


@pytest.mark.parametrize(
    ("locale", "said"), [("fr-FR", "Rappel : Vol repéré."), ("en", "Repeat: Vol repéré.")], ids=["fr", "en"]
)
def test_a_call_placed_again_after_an_unknown_outcome_says_it_is_a_repeat(sender, stub, locale, said):
    sender.send(make_message(address=TO, body="Vol repéré.", locale=locale, repeat=True))

    [call] = stub.messages(channel="voice")["messages"]
    [say] = ElementTree.fromstring(call["text"]).find("Gather").findall("Say")
    assert say.text.startswith(said)


def test_english_for_staff_of_other_languages(sender, stub):
    sender.send(make_message(address=TO, body="Theft spotted.", locale="de-DE"))

    [call] = stub.messages(channel="voice")["messages"]
    say = ElementTree.fromstring(call["text"]).find("Gather/Say")
    assert (say.get("language"), say.text) == ("en-US", "Theft spotted. Press 1 if you are going.")


def test_the_spoken_text_is_escaped_not_concatenated(sender, stub):
    body = 'Theft at <Shop & "Co"></Say><Hangup/>'

    sender.send(make_message(address=TO, body=body, delivery_id='x"&y'))

    [call] = stub.messages(channel="voice")["messages"]
    twiml = ElementTree.fromstring(call["text"])
    assert twiml.find("Hangup") is None and twiml.find("Gather/Hangup") is None
    assert twiml.find("Gather/Say").text.startswith(body)
    assert twiml.find("Gather").get("action").endswith("?delivery=x%22%26y")


@pytest.mark.parametrize(
    ("control", "address", "error", "reason"),
    [
        (fail_next(500), TO, TransientSendError, "HTTP 500: Twilio 20500"),
        (fail_next(503), TO, TransientSendError, "HTTP 503: Twilio 20503"),
        (fail_next(429), TO, TransientSendError, "HTTP 429: Twilio 20429: Too Many Requests"),
        (fail_next(400), TO, PermanentSendError, "HTTP 400: Twilio 20400"),
        (fail_next(401), TO, PermanentSendError, "HTTP 401: Twilio 20401"),
        (
            {},
            INVALID_TWILIO_NUMBER,
            PermanentSendError,
            "HTTP 400: Twilio 21211: The 'To' number +*********01",
        ),
        ({"hang_next": 1, "hang_seconds": 0.6}, TO, TransientSendError, "timeout"),
    ],
    ids=["500", "503", "429", "400", "401", "invalid-number", "timeout"],
)
def test_failures_are_transient_or_permanent(sender, stub, control, address, error, reason):
    if control:
        stub.control(**control)

    assert_refused_and_unsent(sender, make_message(address=address), error, reason, stub, "voice")


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"PUBLIC_URL": ""}, "PUBLIC_URL is not set"),
        ({"TWILIO_FROM_NUMBER": "ACME"}, "TWILIO_FROM_NUMBER"),
    ],
    ids=["no-public-url", "bad-from"],
)
def test_a_call_nobody_could_answer_is_not_placed(stub, secrets, config, reason):
    sender = voice_sender(f"{stub.url}/twilio", **config)

    with pytest.raises(PermanentSendError, match=reason):
        sender.send(make_message(address=TO))

    assert stub.messages(channel="voice")["count"] == 0


def test_a_missing_secret_is_permanent(stub, secrets, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")

    with pytest.raises(PermanentSendError, match="TWILIO_AUTH_TOKEN is not set"):
        voice_sender(f"{stub.url}/twilio").send(make_message(address=TO))

    assert stub.messages()["raw_receipts"] == 0


def test_the_voice_sender_rings():
    assert VoiceSender.rings is True


@pytest.mark.parametrize("contact", [{"address": "0612345678"}, {"address": "+33 6 12"}, {}])
def test_config_schema_takes_only_e164_numbers(contact):
    assert VoiceConfigSchema().load({"address": TO}) == {"address": TO}
    with pytest.raises(ValidationError) as raised:
        VoiceConfigSchema().load(contact)
    assert list(raised.value.messages) == ["address"]
