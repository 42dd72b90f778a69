import ast
import json
import smtplib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from tests.helpers.stub import SmtpStub, StartStub
from third_party import FailureSettings, InvalidSettings

FIELDS = ("target_user_uuid", "url", "alert_uuid", "location", "label")
TIMEOUT = 5


@pytest.fixture
def stub_url(start_stub: StartStub) -> str:
    return start_stub()


def notification(alert_uuid: str = "alert-1", user: str = "user-1") -> dict[str, str]:
    return {
        "target_user_uuid": user,
        "url": f"https://media.example.com/{alert_uuid}.mp4",
        "alert_uuid": alert_uuid,
        "location": "fr-auchan-larochelle",
        "label": "theft",
    }


def post(stub_url: str, body: object, key: str | None = None, timeout: float = TIMEOUT) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(f"{stub_url}/webhook/notifications/", json=body, headers=headers, timeout=timeout)


def messages(stub_url: str, **params: str) -> dict:
    response = requests.get(f"{stub_url}/messages", params=params, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()


def control(stub_url: str, **changes: object) -> requests.Response:
    return requests.put(f"{stub_url}/control", json=changes, timeout=TIMEOUT)


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field_is_400_naming_it(stub_url: str, field: str) -> None:
    body = notification()
    del body[field]

    response = post(stub_url, body)

    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "status": "Bad Request",
        "message": "missing fields",
        "errors": {field: ["Missing data for required field."]},
    }
    assert messages(stub_url)["count"] == 0


def test_non_object_body_is_400(stub_url: str) -> None:
    response = post(stub_url, ["not", "an", "object"])

    assert response.status_code == 400
    assert response.json()["errors"] == {"_schema": ["Invalid input type."]}


def test_accepts_and_records_the_message(stub_url: str) -> None:
    body = {**notification(), "extra": "kept"}
    before = time.time()

    response = post(stub_url, body, key="k-1")

    assert response.status_code == 201
    assert response.json() == {"status": "accepted", "idempotency_key": "k-1"}
    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (1, 1, 0)
    [message] = listed["messages"]
    received_at = message.pop("received_at")
    assert before <= received_at <= time.time()
    assert message == {**body, "idempotency_key": "k-1", "receipts": 1}


def test_path_without_trailing_slash_is_served(stub_url: str) -> None:
    response = requests.post(f"{stub_url}/webhook/notifications", json=notification(), timeout=TIMEOUT)

    assert response.status_code == 201
    assert messages(stub_url)["count"] == 1


def test_same_idempotency_key_is_a_duplicate_not_a_new_message(stub_url: str) -> None:
    first = post(stub_url, notification(), key="k-1")
    second = post(stub_url, notification(), key="k-1")
    third = post(stub_url, notification(), key="k-1")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == {"status": "accepted", "idempotency_key": "k-1", "duplicate": True}
    assert third.status_code == 200
    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (1, 3, 2)
    assert listed["messages"][0]["receipts"] == 3


def test_senders_lists_the_address_of_every_receipt_on_request_only(stub_url: str) -> None:
    post(stub_url, notification(), key="k-1")
    post(stub_url, notification(), key="k-1")

    [plain] = messages(stub_url)["messages"]
    [listed] = messages(stub_url, senders="1")["messages"]

    assert "senders" not in plain
    assert [sender["address"] for sender in listed["senders"]] == ["127.0.0.1", "127.0.0.1"]
    first, second = (sender["at"] for sender in listed["senders"])
    assert first == listed["received_at"] <= second


def test_without_key_every_post_is_its_own_message(stub_url: str) -> None:
    post(stub_url, notification())
    post(stub_url, notification())

    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (2, 2, 0)
    assert [m["idempotency_key"] for m in listed["messages"]] == [None, None]


def test_filter_by_alert_uuid(stub_url: str) -> None:
    post(stub_url, notification("alert-a", "u1"), key="a1")
    post(stub_url, notification("alert-a", "u1"), key="a1")
    post(stub_url, notification("alert-a", "u2"), key="a2")
    post(stub_url, notification("alert-b", "u1"), key="b1")

    listed = messages(stub_url, alert_uuid="alert-a")

    assert (listed["count"], listed["raw_receipts"], listed["duplicates"]) == (2, 3, 1)
    assert sorted(m["target_user_uuid"] for m in listed["messages"]) == ["u1", "u2"]
    assert messages(stub_url, alert_uuid="alert-c")["count"] == 0


def test_delete_clears_messages_and_keys(stub_url: str) -> None:
    post(stub_url, notification(), key="k-1")

    response = requests.delete(f"{stub_url}/messages", timeout=TIMEOUT)

    assert response.status_code == 204
    assert messages(stub_url) == {"count": 0, "raw_receipts": 0, "duplicates": 0, "messages": []}
    assert post(stub_url, notification(), key="k-1").status_code == 201


@pytest.mark.parametrize(
    ("status", "retry_after"), [(500, None), (429, "3"), (400, None), (503, "3")], ids=str
)
def test_fail_next_answers_the_chosen_status_then_recovers(
    stub_url: str, status: int, retry_after: str | None
) -> None:
    assert control(stub_url, fail_next=2, fail_next_status=status, retry_after=3).status_code == 200

    failures = [post(stub_url, notification(), key="k-1") for _ in range(2)]
    recovered = post(stub_url, notification(), key="k-1")

    assert [r.status_code for r in failures] == [status, status]
    assert [r.headers.get("Retry-After") for r in failures] == [retry_after, retry_after]
    assert failures[0].json()["code"] == status
    assert recovered.status_code == 201
    listed = messages(stub_url)
    assert (listed["count"], listed["raw_receipts"]) == (1, 1)
    state = requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()
    assert state["counters"]["rejected"] == 2
    assert state["settings"]["fail_next"] == 0


def test_error_rate_one_fails_every_post(stub_url: str) -> None:
    control(stub_url, error_rate=1.0)

    statuses = [post(stub_url, notification()).status_code for _ in range(5)]

    assert statuses == [500] * 5
    assert messages(stub_url)["count"] == 0


def test_rate_limit_rate_one_answers_429_with_retry_after(stub_url: str) -> None:
    control(stub_url, rate_limit_rate=1.0, retry_after=7)

    responses = [post(stub_url, notification()) for _ in range(3)]

    assert [(r.status_code, r.headers.get("Retry-After")) for r in responses] == [(429, "7")] * 3
    assert messages(stub_url)["count"] == 0


def test_latency_delays_the_answer(stub_url: str) -> None:
    control(stub_url, latency=0.3)

    started = time.monotonic()
    response = post(stub_url, notification())

    assert response.status_code == 201
    assert time.monotonic() - started >= 0.3


def test_hang_next_sleeps_then_answers_504_and_records_nothing(stub_url: str) -> None:
    control(stub_url, hang_next=1, hang_seconds=0.3)

    started = time.monotonic()
    hung = post(stub_url, notification())
    elapsed = time.monotonic() - started
    after = post(stub_url, notification())

    assert hung.status_code == 504
    assert elapsed >= 0.3
    assert after.status_code == 201
    assert messages(stub_url)["count"] == 1


def test_hang_outlasts_a_shorter_client_timeout(stub_url: str) -> None:
    control(stub_url, hang_rate=1.0, hang_seconds=0.5)

    with pytest.raises(requests.ReadTimeout):
        post(stub_url, notification(), timeout=0.1)


def test_seeded_random_failures_replay(start_stub: StartStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_SEED", "7")
    runs = []
    for _ in range(2):
        stub_url = start_stub(FailureSettings(error_rate=0.5))
        runs.append([post(stub_url, notification()).status_code for _ in range(20)])

    assert runs[0] == runs[1]
    assert set(runs[0]) == {201, 500}


def test_control_shows_settings_and_counters(stub_url: str) -> None:
    post(stub_url, notification(), key="k-1")
    post(stub_url, notification(), key="k-1")

    state = requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()

    assert state == {
        "settings": {
            "error_rate": 0.0,
            "rate_limit_rate": 0.0,
            "retry_after": 1,
            "latency": 0.0,
            "hang_rate": 0.0,
            "hang_seconds": 30.0,
            "fail_next": 0,
            "fail_next_status": 500,
            "hang_next": 0,
            "sms_undelivered_next": 0,
            "sms_failed_next": 0,
            "sms_error_code": 30003,
            "sms_status_delay": 0.5,
            "voice_no_answer_next": 0,
            "voice_busy_next": 0,
            "voice_failed_next": 0,
            "voice_status_delay": 0.5,
        },
        "counters": {
            "count": 1,
            "raw_receipts": 2,
            "duplicates": 1,
            "rejected": 0,
            "open": 0,
            "most_open": 1,
        },
    }


def test_put_control_updates_and_returns_the_settings(stub_url: str) -> None:
    response = control(stub_url, error_rate=0.25, latency=1)

    assert response.status_code == 200
    settings = response.json()["settings"]
    assert (settings["error_rate"], settings["latency"], settings["rate_limit_rate"]) == (0.25, 1.0, 0.0)
    assert requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()["settings"] == settings


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"error_rate": 1.5}, {"error_rate": ["Must be between 0 and 1."]}),
        ({"latency": -1}, {"latency": ["Must be a finite number >= 0."]}),
        ({"retry_after": 1.5}, {"retry_after": ["Not a valid integer."]}),
        ({"fail_next": True}, {"fail_next": ["Not a valid number."]}),
        ({"hang_seconds": "10"}, {"hang_seconds": ["Not a valid number."]}),
        ({"fail_next_status": 200}, {"fail_next_status": ["Must be an HTTP error status (4xx or 5xx)."]}),
        ({"colour": "red"}, {"colour": ["Unknown field."]}),
        (
            {"error_rate": 0.1, "bogus": 1, "hang_rate": 2},
            {"bogus": ["Unknown field."], "hang_rate": ["Must be between 0 and 1."]},
        ),
    ],
    ids=str,
)
def test_put_control_rejects_bad_settings_with_422(stub_url: str, changes: dict, errors: dict) -> None:
    response = control(stub_url, **changes)

    assert response.status_code == 422
    assert response.json() == {
        "code": 422,
        "status": "Unprocessable Entity",
        "message": "invalid settings",
        "errors": errors,
    }
    # Nothing of a rejected update is applied, not even its valid part.
    assert requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()["settings"]["error_rate"] == 0.0


def test_put_control_rejects_a_non_object(stub_url: str) -> None:
    response = requests.put(f"{stub_url}/control", json=[1], timeout=TIMEOUT)

    assert response.status_code == 422
    assert response.json()["errors"] == {"_schema": ["Invalid input type."]}


def test_reset_restores_healthy_defaults(start_stub: StartStub) -> None:
    stub_url = start_stub(FailureSettings(error_rate=1.0, latency=0.1, fail_next=3))

    response = requests.post(f"{stub_url}/control/reset", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json()["settings"] == {
        "error_rate": 0.0,
        "rate_limit_rate": 0.0,
        "retry_after": 1,
        "latency": 0.0,
        "hang_rate": 0.0,
        "hang_seconds": 30.0,
        "fail_next": 0,
        "fail_next_status": 500,
        "hang_next": 0,
        "sms_undelivered_next": 0,
        "sms_failed_next": 0,
        "sms_error_code": 30003,
        "sms_status_delay": 0.5,
        "voice_no_answer_next": 0,
        "voice_busy_next": 0,
        "voice_failed_next": 0,
        "voice_status_delay": 0.5,
    }
    assert post(stub_url, notification()).status_code == 201


def test_app_does_not_consume_the_callers_settings(start_stub: StartStub) -> None:
    settings = FailureSettings(fail_next=1)
    stub_url = start_stub(settings)

    assert post(stub_url, notification()).status_code == 500
    assert settings.fail_next == 1


def test_from_env_reads_the_stub_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "STUB_ERROR_RATE": "0.2",
        "STUB_RATE_LIMIT_RATE": "0.1",
        "STUB_RETRY_AFTER": "4",
        "STUB_LATENCY": "0.05",
        "STUB_HANG_RATE": "0.01",
        "STUB_HANG_SECONDS": "12",
    }.items():
        monkeypatch.setenv(name, value)

    assert FailureSettings.from_env() == FailureSettings(
        error_rate=0.2, rate_limit_rate=0.1, retry_after=4, latency=0.05, hang_rate=0.01, hang_seconds=12.0
    )


def test_from_env_defaults_to_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ERROR_RATE", "RATE_LIMIT_RATE", "RETRY_AFTER", "LATENCY", "HANG_RATE", "HANG_SECONDS"):
        monkeypatch.delenv(f"STUB_{name}", raising=False)

    assert FailureSettings.from_env() == FailureSettings()


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [("STUB_ERROR_RATE", "lots", "error_rate"), ("STUB_RETRY_AFTER", "1.5", "retry_after")],
)
def test_from_env_rejects_bad_values(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(InvalidSettings) as raised:
        FailureSettings.from_env()

    assert list(raised.value.errors) == [field]


# --- The channel providers: Slack, Telegram, Twilio, Teams, generic webhooks and SMTP ---

SLACK_TOKEN = "xoxb-1-2-abc"
TELEGRAM_TOKEN = "123456:ABC-def"
TWILIO_SID = "AC0123"
SLACK_MESSAGE = {"channel": "C0123456789", "text": "Theft", "blocks": [{"type": "section"}]}
TEAMS_MESSAGE = {
    "type": "message",
    "attachments": [
        {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Theft"}]},
        }
    ],
}
TWILIO_FORM = {"To": "+33612345678", "From": "+15005550006", "Body": "Theft"}


def slack_post(
    stub_url: str, body: object, token: str | None = SLACK_TOKEN, **headers: str
) -> requests.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(
        f"{stub_url}/slack/api/chat.postMessage", json=body, headers=headers, timeout=TIMEOUT
    )


def telegram_post(stub_url: str, body: object, token: str = TELEGRAM_TOKEN) -> requests.Response:
    return requests.post(f"{stub_url}/telegram/bot{token}/sendMessage", json=body, timeout=TIMEOUT)


def twilio_post(
    stub_url: str, form: dict, sid: str = TWILIO_SID, user: str = TWILIO_SID
) -> requests.Response:
    url = f"{stub_url}/twilio/2010-04-01/Accounts/{sid}/Messages.json"
    return requests.post(url, data=form, auth=(user, "token"), timeout=TIMEOUT)


def test_slack_post_message_answers_ok_and_records_on_channel_slack(stub_url: str) -> None:
    body = {**SLACK_MESSAGE, "metadata": {"event_payload": {"delivery_id": "d-1", "alert_uuid": "a-1"}}}

    first = slack_post(stub_url, body)
    again = slack_post(stub_url, body)

    assert first.status_code == 200
    assert first.json()["ok"] is True
    assert first.json()["channel"] == "C0123456789"
    assert float(first.json()["ts"]) > 0
    assert again.json()["ok"] is True
    listed = messages(stub_url, channel="slack")
    assert (listed["count"], listed["duplicates"]) == (1, 1)
    [message] = listed["messages"]
    assert {k: message[k] for k in ("channel", "address", "text", "alert_uuid", "idempotency_key")} == {
        "channel": "slack",
        "address": "C0123456789",
        "text": "Theft",
        "alert_uuid": "a-1",
        "idempotency_key": "d-1",
    }
    assert message["payload"] == body


@pytest.mark.parametrize(
    ("body", "token", "error"),
    [
        (SLACK_MESSAGE, None, "not_authed"),
        (SLACK_MESSAGE, "xoxp-user-token", "invalid_auth"),
        ({**SLACK_MESSAGE, "channel": "C0NOTFOUND"}, SLACK_TOKEN, "channel_not_found"),
        ({"text": "Theft"}, SLACK_TOKEN, "channel_not_found"),
        ({"channel": "C0123456789"}, SLACK_TOKEN, "no_text"),
        (["not", "an", "object"], SLACK_TOKEN, "invalid_arguments"),
    ],
    ids=["no-token", "bad-token", "unknown-channel", "no-channel", "no-text", "not-json-object"],
)
def test_slack_refusals_are_200_with_ok_false(
    stub_url: str, body: object, token: str | None, error: str
) -> None:
    response = slack_post(stub_url, body, token)

    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": error}
    assert messages(stub_url)["count"] == 0


@pytest.mark.parametrize(
    ("hook", "body", "status", "text"),
    [
        ("T1/B1/x", {"text": "Theft"}, 200, "ok"),
        ("notfound", {"text": "Theft"}, 404, "no_service"),
        ("T1/B1/x", {"username": "bot"}, 400, "no_text"),
        ("T1/B1/x", "just a string", 400, "invalid_payload"),
    ],
    ids=["ok", "unknown-hook", "no-text", "not-an-object"],
)
def test_slack_incoming_webhook_answers_in_text(
    stub_url: str, hook: str, body: object, status: int, text: str
) -> None:
    response = requests.post(f"{stub_url}/slack/webhook/{hook}", json=body, timeout=TIMEOUT)

    assert (response.status_code, response.text) == (status, text)
    listed = messages(stub_url, channel="slack")
    assert listed["count"] == (1 if status == 200 else 0)
    if status == 200:
        assert listed["messages"][0]["address"] == f"webhook/{hook}"


def test_telegram_send_message_answers_the_message(stub_url: str) -> None:
    response = telegram_post(stub_url, {"chat_id": -100123, "text": "Theft"})

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["result"]["chat"] == {"id": -100123}
    assert body["result"]["text"] == "Theft"
    assert isinstance(body["result"]["message_id"], int)
    [message] = messages(stub_url, channel="telegram")["messages"]
    assert (message["address"], message["text"], message["idempotency_key"]) == ("-100123", "Theft", None)


def test_telegram_counts_every_post_as_it_carries_no_key(stub_url: str) -> None:
    telegram_post(stub_url, {"chat_id": 1, "text": "Theft"})
    telegram_post(stub_url, {"chat_id": 1, "text": "Theft"})

    assert messages(stub_url, channel="telegram")["count"] == 2


@pytest.mark.parametrize(
    ("token", "body", "status", "description"),
    [
        ("no-colon", {"chat_id": 1, "text": "x"}, 401, "Unauthorized"),
        (TELEGRAM_TOKEN, {"text": "x"}, 400, "Bad Request: chat_id is empty"),
        (TELEGRAM_TOKEN, {"chat_id": 1, "text": ""}, 400, "Bad Request: message text is empty"),
        (TELEGRAM_TOKEN, {"chat_id": 1, "text": "x" * 4097}, 400, "Bad Request: message is too long"),
        (TELEGRAM_TOKEN, {"chat_id": "@notfound", "text": "x"}, 400, "Bad Request: chat not found"),
    ],
    ids=["bad-token", "no-chat", "no-text", "too-long", "unknown-chat"],
)
def test_telegram_refusals(stub_url: str, token: str, body: dict, status: int, description: str) -> None:
    response = telegram_post(stub_url, body, token)

    assert response.status_code == status
    assert response.json() == {"ok": False, "error_code": status, "description": description}
    assert messages(stub_url)["count"] == 0


def test_telegram_rate_limit_says_retry_after_in_the_body_only(stub_url: str) -> None:
    control(stub_url, fail_next=1, fail_next_status=429, retry_after=12)

    response = telegram_post(stub_url, {"chat_id": 1, "text": "x"})

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 12",
        "parameters": {"retry_after": 12},
    }


def test_twilio_create_message_answers_201_with_a_message_sid(stub_url: str) -> None:
    response = twilio_post(stub_url, TWILIO_FORM)

    assert response.status_code == 201
    body = response.json()
    assert body["sid"].startswith("SM")
    assert len(body["sid"]) == 34
    assert (body["account_sid"], body["to"], body["from"], body["body"], body["status"]) == (
        TWILIO_SID,
        "+33612345678",
        "+15005550006",
        "Theft",
        "queued",
    )
    [message] = messages(stub_url, channel="sms")["messages"]
    assert (message["address"], message["text"], message["payload"]) == ("+33612345678", "Theft", TWILIO_FORM)


@pytest.mark.parametrize(
    ("form", "user", "status", "code"),
    [
        (TWILIO_FORM, "ACother", 401, 20003),
        ({"From": "+15005550006", "Body": "x"}, TWILIO_SID, 400, 21604),
        ({"To": "+33612345678", "Body": "x"}, TWILIO_SID, 400, 21603),
        ({"To": "+33612345678", "From": "+15005550006"}, TWILIO_SID, 400, 21602),
        ({**TWILIO_FORM, "To": "+15005550001"}, TWILIO_SID, 400, 21211),
        ({**TWILIO_FORM, "Body": "x" * 1601}, TWILIO_SID, 400, 21617),
    ],
    ids=["wrong-account", "no-to", "no-from", "no-body", "invalid-number", "too-long"],
)
def test_twilio_refusals(stub_url: str, form: dict, user: str, status: int, code: int) -> None:
    response = twilio_post(stub_url, form, user=user)

    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["status"]) == (code, status)
    assert body["more_info"].endswith(f"/{code}")
    assert body["message"]
    assert messages(stub_url)["count"] == 0


def test_teams_webhook_answers_1_and_records_the_card_text(stub_url: str) -> None:
    response = requests.post(f"{stub_url}/teams/webhook/abc/def", json=TEAMS_MESSAGE, timeout=TIMEOUT)

    assert (response.status_code, response.text) == (200, "1")
    [message] = messages(stub_url, channel="teams")["messages"]
    assert (message["address"], message["text"]) == ("webhook/abc/def", "Theft")


@pytest.mark.parametrize(
    "body", [{"type": "message"}, {"text": "Theft"}, {"type": "message", "attachments": {}}]
)
def test_teams_webhook_refuses_a_message_without_attachments(stub_url: str, body: dict) -> None:
    response = requests.post(f"{stub_url}/teams/webhook/abc", json=body, timeout=TIMEOUT)

    assert (response.status_code, response.text) == (400, "Bad payload received by generic incoming webhook.")
    assert messages(stub_url)["count"] == 0


WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WEBHOOK_BODY = {"type": "alert.notification", "data": {"alert_uuid": "a-1", "body": "Theft"}}


def signed_headers(body: str, secret: str = WEBHOOK_SECRET, webhook_id: str = "d-1") -> dict[str, str]:
    now = datetime.fromtimestamp(int(time.time()), UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


def test_generic_webhook_without_a_secret_accepts_and_dedups_by_webhook_id(stub_url: str) -> None:
    url = f"{stub_url}/webhook/generic/h1"
    first = requests.post(url, json=WEBHOOK_BODY, headers={"webhook-id": "d-1"}, timeout=TIMEOUT)
    again = requests.post(url, json=WEBHOOK_BODY, headers={"webhook-id": "d-1"}, timeout=TIMEOUT)

    assert (first.status_code, first.json()) == (201, {"status": "accepted", "webhook_id": "d-1"})
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    listed = messages(stub_url, channel="webhook")
    assert (listed["count"], listed["duplicates"]) == (1, 1)
    message = listed["messages"][0]
    assert (message["address"], message["alert_uuid"], message["text"]) == ("generic/h1", "a-1", "Theft")


@pytest.mark.parametrize(
    ("secret", "status"),
    [(WEBHOOK_SECRET, 201), ("whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=", 401), (None, 401)],
    ids=["right-secret", "other-secret", "unsigned"],
)
def test_generic_webhook_checks_signatures_when_it_has_a_secret(
    start_stub: StartStub, monkeypatch: pytest.MonkeyPatch, secret: str | None, status: int
) -> None:
    monkeypatch.setenv("STUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
    stub_url = start_stub()
    body = json.dumps(WEBHOOK_BODY)
    headers = signed_headers(body, secret) if secret else {"Content-Type": "application/json"}

    response = requests.post(f"{stub_url}/webhook/generic/h1", data=body, headers=headers, timeout=TIMEOUT)

    assert response.status_code == status
    assert messages(stub_url)["count"] == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    ("path", "request_options", "answer"),
    [
        (
            "/slack/api/chat.postMessage",
            {"json": SLACK_MESSAGE, "headers": {"Authorization": f"Bearer {SLACK_TOKEN}"}},
            {"ok": False, "error": "ratelimited"},
        ),
        ("/slack/webhook/x", {"json": {"text": "x"}}, "rate_limited"),
        (
            f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
            {"data": TWILIO_FORM, "auth": (TWILIO_SID, "token")},
            {
                "code": 20429,
                "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429",
                "status": 429,
            },
        ),
        ("/teams/webhook/x", {"json": TEAMS_MESSAGE}, "Too Many Requests"),
        (
            "/webhook/generic/x",
            {"json": WEBHOOK_BODY},
            {"code": 429, "status": "Too Many Requests", "message": "injected failure (fail_next)"},
        ),
    ],
    ids=["slack", "slack-webhook", "twilio", "teams", "generic-webhook"],
)
def test_injected_429_is_answered_in_each_providers_shape_with_retry_after(
    stub_url: str, path: str, request_options: dict, answer: dict | str
) -> None:
    control(stub_url, fail_next=1, fail_next_status=429, retry_after=5)

    response = requests.post(f"{stub_url}{path}", timeout=TIMEOUT, **request_options)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5"
    assert (response.json() if isinstance(answer, dict) else response.text) == answer
    assert messages(stub_url)["count"] == 0


def test_one_failure_setting_serves_every_provider_path(stub_url: str) -> None:
    control(stub_url, fail_next=3, fail_next_status=503)

    failed = [
        slack_post(stub_url, SLACK_MESSAGE).status_code,
        telegram_post(stub_url, {"chat_id": 1, "text": "x"}).status_code,
        post(stub_url, notification()).status_code,
    ]
    recovered = twilio_post(stub_url, TWILIO_FORM).status_code

    assert failed == [503, 503, 503]
    assert recovered == 201
    assert requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()["counters"]["rejected"] == 3


def test_messages_filter_by_channel_and_push_keeps_its_wire_format(stub_url: str) -> None:
    post(stub_url, notification(), key="k-1")
    telegram_post(stub_url, {"chat_id": 1, "text": "x"})

    [push] = messages(stub_url, channel="push")["messages"]
    [telegram] = messages(stub_url, channel="telegram")["messages"]

    assert "channel" not in push
    assert push["target_user_uuid"] == "user-1"
    assert telegram["channel"] == "telegram"
    assert messages(stub_url)["count"] == 2
    assert messages(stub_url, channel="email")["count"] == 0


def send_mail(port: int, to: str, message_id: str = "<d-1@example.com>") -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = "a@example.com", to, "Theft", message_id
    mail.set_content("Theft at the shop\n")
    mail.add_alternative("<p>Theft at the shop</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as smtp:
        smtp.send_message(mail)


def test_smtp_server_records_mail_on_channel_email_and_dedups_by_message_id(smtp_server: SmtpStub) -> None:
    send_mail(smtp_server.port, "staff@example.com")
    send_mail(smtp_server.port, "staff@example.com")

    listed = smtp_server.messages(channel="email")
    assert (listed["count"], listed["duplicates"]) == (1, 1)
    [mail] = listed["messages"]
    assert (mail["address"], mail["text"], mail["idempotency_key"]) == (
        "staff@example.com",
        "Theft at the shop\n",
        "<d-1@example.com>",
    )
    assert mail["payload"] == {
        "from": "a@example.com",
        "subject": "Theft",
        "message_id": "<d-1@example.com>",
        "html": "<p>Theft at the shop</p>\n",
    }


@pytest.mark.parametrize(
    ("settings", "to", "code"),
    [
        ({"fail_next": 1, "fail_next_status": 503}, "staff@example.com", 451),
        ({"fail_next": 1, "fail_next_status": 429}, "staff@example.com", 451),
        ({"fail_next": 1, "fail_next_status": 400}, "staff@example.com", 550),
        ({}, "notfound@example.com", 550),
    ],
    ids=["5xx", "429", "4xx", "unknown-mailbox"],
)
def test_smtp_server_refuses_recipients_as_injected(
    smtp_server: SmtpStub, settings: dict, to: str, code: int
) -> None:
    if settings:
        smtp_server.control(**settings)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
        send_mail(smtp_server.port, to)

    assert raised.value.recipients[to][0] == code
    assert smtp_server.messages()["count"] == 0


def test_control_counts_the_requests_open_at_once(stub_url: str) -> None:
    requests.put(f"{stub_url}/control", json={"latency": 0.5}, timeout=TIMEOUT)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda n: post(stub_url, notification(user=f"user-{n}")), range(5)))
    assert [answer.status_code for answer in answers] == [201] * 5
    counters = requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()["counters"]
    assert (counters["most_open"], counters["open"]) == (5, 0)
    requests.delete(f"{stub_url}/messages", timeout=TIMEOUT)
    assert requests.get(f"{stub_url}/control", timeout=TIMEOUT).json()["counters"]["most_open"] == 0


@pytest.mark.parametrize("provider", ["telegram", "slack"])
@pytest.mark.parametrize("scheme", ["file://", "FILE://", "ftp://127.0.0.1", "data:,", ""])
def test_a_press_reaches_only_http_urls(stub_url: str, tmp_path, provider: str, scheme: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text("what the stub's process may read")
    answer = requests.post(f"{stub_url}/press/{provider}", json={"url": f"{scheme}{secret}"}, timeout=TIMEOUT)
    assert answer.status_code == 422
    assert answer.json() == {
        "code": 422,
        "status": "Unprocessable Entity",
        "message": "invalid press",
        "errors": {"url": ["Must be an http or https URL."]},
    }


@pytest.mark.parametrize("provider", ["telegram", "slack"])
def test_a_press_posts_to_an_http_url_and_answers_with_its_reply(stub_url: str, provider: str) -> None:
    # The stub's own notification endpoint refuses the press's body: its 400 comes back as it was.
    url = f"{stub_url}/webhook/notifications/"
    answer = requests.post(f"{stub_url}/press/{provider}", json={"url": url}, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert requests.get(f"{stub_url}/messages", timeout=TIMEOUT).json()["count"] == 0


def test_the_stub_imports_nothing_of_the_service():
    # The stub stands for the providers: sharing the service's code would let a bug hide on both sides.
    root = Path(__file__).resolve().parent.parent
    for path in [root / "third_party.py", *sorted((root / "stub").glob("*.py"))]:
        nodes = list(ast.walk(ast.parse(path.read_text())))
        imported = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in nodes if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name.split(".")[0] == "nootification"}, path
