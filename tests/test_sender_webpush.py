"""The Web Push sender against the stub's push service: VAPID checked, the body decrypted (RFC 8291)."""

import json
import os
import time

import pytest
import requests

from nootification.senders import webpush
from nootification.senders.base import ContactGoneError, PermanentSendError, TransientSendError
from nootification.senders.webpush import WebPushSender, b64url_encode
from tests.helpers.config import make_config
from tests.helpers.factories import fail_next, make_message
from tests.helpers.push import new_vapid_key, subscribe

PUBLIC_URL = "https://alerts.example.com"


@pytest.fixture
def subscription(stub, vapid) -> dict:
    return subscribe(stub.url, vapid)


@pytest.fixture
def sender() -> WebPushSender:
    return WebPushSender(make_config(PUBLIC_URL=PUBLIC_URL, HTTP_READ_TIMEOUT=0.5))


def push_message(subscription: dict, **fields):
    return make_message(
        address=subscription["endpoint"],
        options=subscription["keys"],
        action_url=f"{PUBLIC_URL}/s/link-token",
        **fields,
    )


def test_the_push_service_decrypts_exactly_the_notification_the_sender_built(sender, stub, subscription):
    message = push_message(subscription, expires_at=time.time() + 600)

    assert sender.send(message) is None

    [received] = stub.messages(channel="webpush")["messages"]
    assert received["payload"] == {
        "title": message.subject,
        "body": message.body,
        "alert_uuid": message.alert_uuid,
        "delivery_id": message.delivery_id,
        "user_uuid": message.user_uuid,
        "severity": "critical",
        "location": message.location,
        "label": message.label,
        "time_spotted": message.time_spotted,
        "video_url": message.url,
        "action_url": f"{PUBLIC_URL}/s/link-token",
        "receipt_url": f"{PUBLIC_URL}/deliveries/{message.delivery_id}/receipt",
    }
    assert json.loads(received["text"]) == received["payload"]
    assert received["alert_uuid"] == message.alert_uuid
    # TTL is what is left of the alert's freshness; critical is urgent; one topic per alert.
    assert 595 <= received["ttl"] <= 600
    assert received["urgency"] == "high"
    assert received["topic"] == message.alert_uuid.replace("-", "")
    assert received["sub"] == "mailto:" + make_config()["SMTP_FROM"]


def test_a_standard_alert_is_normal_urgency_and_a_stale_one_lives_no_longer(sender, stub, subscription):
    sender.send(push_message(subscription, severity="standard", expires_at=time.time() - 5))
    [received] = stub.messages(channel="webpush")["messages"]
    assert (received["urgency"], received["ttl"]) == ("normal", 0)


def test_each_push_is_encrypted_afresh(sender, stub, subscription):
    message = push_message(subscription)
    bodies = [sender.encrypt(b"same plaintext", message.options) for _ in range(2)]
    assert bodies[0] != bodies[1]
    sender.send(message)
    sender.send(message)
    assert [m["payload"]["delivery_id"] for m in stub.messages(channel="webpush")["messages"]] == [
        message.delivery_id
    ] * 2


def end(stub_url: str, subscription: dict) -> None:
    subscription_id = subscription["endpoint"].rsplit("/", 1)[1]
    assert (
        requests.delete(f"{stub_url}/webpush/subscriptions/{subscription_id}", timeout=5).status_code == 204
    )


@pytest.mark.parametrize(
    ("arrange", "error", "status", "retry_after"),
    [
        ("unsubscribed", ContactGoneError, 410, None),
        ("unknown", ContactGoneError, 404, None),
        ("too_large", PermanentSendError, 413, None),
        ("other_key", PermanentSendError, 403, None),
        (fail_next(429, retry_after=7), TransientSendError, 429, 7.0),
        (fail_next(503, retry_after=3), TransientSendError, 503, 3.0),
        (fail_next(500), TransientSendError, 500, None),
    ],
)
def test_the_push_services_answers_are_classified(
    sender, stub, subscription, monkeypatch, arrange, error, status, retry_after
):
    message = push_message(subscription)
    if arrange == "unsubscribed":
        end(stub.url, subscription)
    elif arrange == "unknown":
        message = push_message({**subscription, "endpoint": subscription["endpoint"][:-4] + "beef"})
    elif arrange == "too_large":
        monkeypatch.setattr(webpush, "MAX_PLAINTEXT_BYTES", 10_000)
        message = push_message(subscription, body="x" * 5000)
    elif arrange == "other_key":
        # The subscription was made with another server's key: the push service refuses our VAPID token.
        message = push_message(subscribe(stub.url, new_vapid_key()[1]))
    else:
        stub.control(**arrange)

    with pytest.raises(error) as raised:
        sender.send(message)

    assert type(raised.value) is error
    assert raised.value.http_status == status
    assert raised.value.retry_after == retry_after
    assert stub.messages(channel="webpush")["messages"] == []


def test_a_notification_too_long_for_web_push_is_refused_before_sending(sender, stub, subscription):
    with pytest.raises(PermanentSendError, match="too long for Web Push"):
        sender.send(push_message(subscription, body="é" * 2000))
    assert stub.messages(channel="webpush")["messages"] == []


def test_without_a_vapid_key_nothing_is_sent(stub, subscription, sender, monkeypatch):
    monkeypatch.delenv("WEBPUSH_VAPID_PRIVATE_KEY")
    with pytest.raises(PermanentSendError, match="WEBPUSH_VAPID_PRIVATE_KEY is not set"):
        sender.send(push_message(subscription))
    monkeypatch.setenv("WEBPUSH_VAPID_PRIVATE_KEY", "not-a-key")
    with pytest.raises(PermanentSendError, match="not a P-256 private key"):
        WebPushSender(make_config(PUBLIC_URL=PUBLIC_URL)).send(push_message(subscription))


def test_the_vapid_token_is_reused_for_the_same_push_service(sender, subscription):
    audience = "https://push.example.net"
    assert sender.signer().authorization(audience) == sender.signer().authorization(audience)
    assert sender.signer().authorization(audience) != sender.signer().authorization(
        "https://other.example.net"
    )


def test_the_subscription_keys_are_validated_when_stored():
    schema = webpush.WebPushConfigSchema()
    _, p256dh = new_vapid_key()
    auth = b64url_encode(os.urandom(16))
    assert schema.load({"address": "https://push.example.net/a", "p256dh": p256dh, "auth": auth})
    errors = schema.validate({"address": "http://push.example.net/a", "p256dh": p256dh[:-2], "auth": "x"})
    assert set(errors) == {"address", "p256dh", "auth"}
