"""The FCM sender against the stub's FCM HTTP v1 and OAuth token endpoint, with a service account the test
made (the stub knows only its public key)."""

import json
import time

import pytest

from nootification.senders.base import ContactGoneError, PermanentSendError, TransientSendError
from nootification.senders.fcm import FcmConfigSchema, FcmSender
from tests.helpers.config import make_config
from tests.helpers.factories import fail_next, make_message
from tests.helpers.push import registered_account
from third_party import (
    INVALID_FCM_TOKEN,
    MISMATCHED_FCM_TOKEN,
    UNREGISTERED_FCM_TOKEN,
    make_fcm_service_account,
)

PUBLIC_URL = "https://alerts.example.com"
DEVICE = "fcm-registration-token-of-camilles-phone"


@pytest.fixture
def account(stub, monkeypatch) -> dict:
    key_file = registered_account(stub.url)
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(key_file))
    return key_file


@pytest.fixture
def sender(stub, account) -> FcmSender:
    return FcmSender(make_config(FCM_API_URL=f"{stub.url}/fcm", PUBLIC_URL=PUBLIC_URL, HTTP_READ_TIMEOUT=0.5))


def tokens_issued(stub) -> int:
    return stub.control()["counters"].get("fcm_tokens_issued", 0)


def test_sends_a_notification_and_data_message_with_urgent_delivery_options(sender, stub):
    message = make_message(
        address=DEVICE, action_url=f"{PUBLIC_URL}/s/link-token", expires_at=time.time() + 600
    )

    sender.send(message)

    [received] = stub.messages(channel="fcm")["messages"]
    assert received["address"] == DEVICE
    assert received["alert_uuid"] == message.alert_uuid
    sent = received["payload"]
    assert sent["token"] == DEVICE
    assert sent["notification"] == {"title": message.subject, "body": message.body}
    assert sent["data"]["action_url"] == f"{PUBLIC_URL}/s/link-token"
    assert sent["data"]["receipt_url"] == f"{PUBLIC_URL}/deliveries/{message.delivery_id}/receipt"
    assert all(isinstance(value, str) for value in sent["data"].values())
    android = sent["android"]
    assert (android["priority"], android["collapse_key"]) == ("HIGH", message.alert_uuid)
    assert 595 <= int(android["ttl"].removesuffix("s")) <= 600
    headers = sent["apns"]["headers"]
    assert (headers["apns-priority"], headers["apns-push-type"], headers["apns-collapse-id"]) == (
        "10",
        "alert",
        message.alert_uuid,
    )
    assert sent["apns"]["payload"]["aps"]["interruption-level"] == "time-sensitive"


def test_a_standard_alert_goes_at_normal_priority(sender, stub):
    sender.send(make_message(address=DEVICE, severity="standard"))
    sent = stub.messages(channel="fcm")["messages"][0]["payload"]
    assert sent["android"]["priority"] == "NORMAL"
    assert sent["apns"]["headers"]["apns-priority"] == "5"
    assert sent["apns"]["payload"]["aps"]["interruption-level"] == "active"


def test_the_access_token_is_fetched_once_and_reused(sender, stub):
    for _ in range(3):
        sender.send(make_message(address=DEVICE))
    assert tokens_issued(stub) == 1
    assert len(stub.messages(channel="fcm")["messages"]) == 3


@pytest.mark.parametrize(
    ("device", "control", "error", "status", "retry_after", "reason"),
    [
        (UNREGISTERED_FCM_TOKEN + "-1", None, ContactGoneError, 404, None, "UNREGISTERED"),
        (INVALID_FCM_TOKEN + "-1", None, PermanentSendError, 400, None, "INVALID_ARGUMENT"),
        (MISMATCHED_FCM_TOKEN + "-1", None, PermanentSendError, 403, None, "SENDER_ID_MISMATCH"),
        (DEVICE, fail_next(429, retry_after=9), TransientSendError, 429, 9.0, "QUOTA_EXCEEDED"),
        (DEVICE, fail_next(503, retry_after=2), TransientSendError, 503, 2.0, "UNAVAILABLE"),
        (DEVICE, fail_next(500), TransientSendError, 500, None, "INTERNAL"),
    ],
)
def test_fcms_answers_are_classified(sender, stub, device, control, error, status, retry_after, reason):
    # The token is fetched first, so an injected failure hits the send itself.
    sender.tokens().current()
    if control:
        stub.control(**control)

    with pytest.raises(error, match=reason) as raised:
        sender.send(make_message(address=device))

    assert type(raised.value) is error
    assert (raised.value.http_status, raised.value.retry_after) == (status, retry_after)
    assert stub.messages(channel="fcm")["messages"] == []


def test_a_refused_access_token_is_dropped_and_the_next_attempt_fetches_another(sender, stub, monkeypatch):
    sender.send(make_message(address=DEVICE))
    # FCM stops accepting the cached token (revoked, or expired early): the attempt is transient.
    sender.tokens().credentials.token = "ya29.revoked"
    with pytest.raises(TransientSendError, match="UNAUTHENTICATED"):
        sender.send(make_message(address=DEVICE))
    sender.send(make_message(address=DEVICE))
    assert tokens_issued(stub) == 2
    assert len(stub.messages(channel="fcm")["messages"]) == 2


def test_an_account_fcm_does_not_trust_is_a_permanent_failure(stub, monkeypatch):
    stranger, _ = make_fcm_service_account(f"{stub.url}/fcm/token")
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(stranger))
    sender = FcmSender(make_config(FCM_API_URL=f"{stub.url}/fcm"))
    with pytest.raises(PermanentSendError, match="FCM token refused: invalid_grant"):
        sender.send(make_message(address=DEVICE))
    assert stub.messages(channel="fcm")["messages"] == []


def test_an_unreachable_token_endpoint_is_transient(stub, monkeypatch):
    key_file, _ = make_fcm_service_account("http://127.0.0.1:9/fcm/token")
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(key_file))
    sender = FcmSender(make_config(FCM_API_URL=f"{stub.url}/fcm", HTTP_CONNECT_TIMEOUT=0.5))
    with pytest.raises(TransientSendError, match="token endpoint"):
        sender.send(make_message(address=DEVICE))


@pytest.mark.parametrize(("secret", "reason"), [(None, "is not set"), ("{not json", "not a service account")])
def test_without_a_usable_service_account_nothing_is_sent(stub, monkeypatch, secret, reason):
    monkeypatch.delenv("FCM_SERVICE_ACCOUNT", raising=False)
    if secret is not None:
        monkeypatch.setenv("FCM_SERVICE_ACCOUNT", secret)
    sender = FcmSender(make_config(FCM_API_URL=f"{stub.url}/fcm"))
    with pytest.raises(PermanentSendError, match=reason):
        sender.send(make_message(address=DEVICE))


def test_the_service_account_key_never_reaches_an_error_or_the_log(stub, monkeypatch, caplog):
    key_file, _ = make_fcm_service_account(f"{stub.url}/fcm/token")
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps({**key_file, "private_key": "garbage"}))
    sender = FcmSender(make_config(FCM_API_URL=f"{stub.url}/fcm"))
    with pytest.raises(PermanentSendError) as raised:
        sender.send(make_message(address=DEVICE))
    assert "garbage" not in str(raised.value) and "garbage" not in caplog.text


def test_a_device_token_is_required():
    assert FcmConfigSchema().validate({"address": ""}) == {"address": ["Length must be between 1 and 4096."]}
    assert FcmConfigSchema().load({"address": DEVICE}) == {"address": DEVICE}
