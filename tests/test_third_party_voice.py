"""The stub's Twilio Voice over real HTTP: its refusals, the call's end on demand, a key pressed."""

import pytest
import requests

SID = "AC0123456789abcdef0123456789abcdef"
TWIML = '<Response><Gather action="http://127.0.0.1:9/webhooks/twilio/voice?delivery=d1"/></Response>'
TIMEOUT = 5


def create_call(stub, **form) -> requests.Response:
    fields = {"To": "+33612345678", "From": "+15005550006", "Twiml": TWIML, **form}
    fields = {name: value for name, value in fields.items() if value is not None}
    url = f"{stub.url}/twilio/2010-04-01/Accounts/{SID}/Calls.json"
    return requests.post(url, data=fields, auth=(SID, "token"), timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": None}, 21201),
        ({"From": None}, 21213),
        ({"Twiml": None}, 21205),
        ({"Twiml": "<Response><Say>" + "a" * 4000 + "</Say></Response>"}, 21205),
        ({"Twiml": "<Response><Say>"}, 12100),
        ({"To": "+15005550001"}, 21211),
    ],
    ids=["no-to", "no-from", "no-twiml", "long-twiml", "not-xml", "invalid-number"],
)
def test_a_call_twilio_would_refuse_is_refused_and_not_recorded(stub, form, code):
    answer = create_call(stub, **form)

    assert answer.status_code == 400
    assert answer.json()["code"] == code
    assert stub.messages(channel="voice")["count"] == 0


def test_without_basic_auth_401(stub):
    url = f"{stub.url}/twilio/2010-04-01/Accounts/{SID}/Calls.json"
    answer = requests.post(url, data={"To": "+33612345678"}, timeout=TIMEOUT)

    assert (answer.status_code, answer.json()["code"]) == (401, 20003)


def test_the_next_calls_end_as_control_says_then_completed(stub):
    stub.control(voice_busy_next=1, voice_failed_next=1, voice_no_answer_next=1)

    sids = [create_call(stub).json()["sid"] for _ in range(4)]

    recorded = stub.messages(channel="voice")["messages"]
    assert [m["sid"] for m in recorded] == sids
    assert [m["status"] for m in recorded] == ["no-answer", "busy", "failed", "completed"]
    assert recorded[0]["text"] == TWIML
    assert stub.control()["settings"]["voice_busy_next"] == 0


def test_pressing_a_key_on_an_unknown_call_is_a_404(stub):
    answer = requests.post(
        f"{stub.url}/press/twilio/voice", json={"call_sid": "CAnope", "digits": "1"}, timeout=TIMEOUT
    )

    assert answer.status_code == 404
    assert list(answer.json()["errors"]) == ["call_sid"]
