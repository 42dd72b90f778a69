"""The server's half of subscribing a phone: the VAPID public key, and `POST /s/<link>/push-subscription`."""

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nootification.extensions import db
from nootification.models import ContactPoint, Level, utcnow
from nootification.senders.webpush import b64url_encode
from nootification.services.staff_links import link_expiry, link_token
from tests.factories import alert_payload, make_location, make_user
from tests.test_staff_loop import user_client

SECRET = "test-only-secret-key"


def new_vapid_key() -> tuple[str, str]:
    """A VAPID key pair as the server keeps it: (private key, base64url raw; public key, base64url point)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return private, b64url_encode(public)


def browser_subscription(endpoint: str = "https://push.example.net/send/abc123") -> dict:
    """What `PushSubscription.toJSON()` gives: the endpoint and the browser's keys."""
    _, p256dh = new_vapid_key()
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": p256dh, "auth": b64url_encode(os.urandom(16))},
    }


@pytest.fixture
def vapid(monkeypatch) -> str:
    """Web Push configured with a fresh VAPID key; its public key."""
    private, public = new_vapid_key()
    monkeypatch.setenv("WEBPUSH_VAPID_PRIVATE_KEY", private)
    return public


@pytest.fixture
def camille_link(client) -> tuple[object, str]:
    """Camille and the path of her staff link to a stored alert of her shop."""
    shop = make_location()
    camille = make_user(shop, level=Level.STANDARD, name="Camille")
    payload = alert_payload(label="theft")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    expires = link_expiry(utcnow(), "critical", client.application.config)
    return camille, f"/s/{link_token(payload['alert_uuid'], camille.user_uuid, expires, SECRET)}"


def web_push_point(user) -> ContactPoint | None:
    db.session.expire_all()
    return db.session.scalar(db.select(ContactPoint).filter_by(user_id=user.id, channel="webpush"))


def test_the_vapid_public_key_is_served_to_anyone(anonymous, vapid):
    answer = anonymous.get("/webpush/vapid-public-key")
    assert answer.status_code == 200
    assert answer.json == {"public_key": vapid}


def test_without_a_vapid_key_web_push_is_off(anonymous, monkeypatch):
    monkeypatch.delenv("WEBPUSH_VAPID_PRIVATE_KEY", raising=False)
    answer = anonymous.get("/webpush/vapid-public-key")
    assert answer.status_code == 404
    assert answer.json["message"] == "Web Push is not configured on this server."


def test_the_staff_link_registers_the_phones_subscription(anonymous, vapid, camille_link):
    camille, link = camille_link
    subscription = browser_subscription()
    answer = anonymous.post(f"{link}/push-subscription", json=subscription)
    assert answer.status_code == 201, answer.json
    assert answer.json["channel"] == "webpush"
    assert answer.json["address"] == subscription["endpoint"]
    assert answer.json["options"] == subscription["keys"]
    point = web_push_point(camille)
    assert point.enabled and point.address == subscription["endpoint"]


def test_subscribing_again_turns_a_gone_subscription_back_on(anonymous, vapid, camille_link):
    camille, link = camille_link
    assert anonymous.post(f"{link}/push-subscription", json=browser_subscription()).status_code == 201
    point = web_push_point(camille)
    point.enabled, point.disabled_reason, point.disabled_at = False, "the push subscription is gone", utcnow()
    db.session.commit()

    fresh = browser_subscription("https://push.example.net/send/def456")
    assert anonymous.post(f"{link}/push-subscription", json=fresh).status_code == 201
    point = web_push_point(camille)
    assert (point.enabled, point.address, point.disabled_reason, point.disabled_at) == (
        True,
        fresh["endpoint"],
        None,
        None,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keys": {"p256dh": "not-a-key", "auth": b64url_encode(os.urandom(16))}}, "p256dh"),
        ({"keys": {"p256dh": new_vapid_key()[1], "auth": b64url_encode(os.urandom(8))}}, "auth"),
        (
            {"keys": {"p256dh": b64url_encode(b"\x04" + bytes(64)), "auth": b64url_encode(os.urandom(16))}},
            "p256dh",
        ),
        ({"endpoint": "not a url"}, "address"),
        ({"keys": None}, "keys"),
    ],
)
def test_a_bad_subscription_gets_a_clear_error_and_stores_nothing(
    anonymous, vapid, camille_link, change, field
):
    camille, link = camille_link
    answer = anonymous.post(f"{link}/push-subscription", json={**browser_subscription(), **change})
    assert answer.status_code == 422, answer.json
    assert field in str(answer.json.get("errors", answer.json))
    assert web_push_point(camille) is None


def test_a_push_service_on_a_private_address_is_refused_in_production(
    anonymous, app, vapid, camille_link, monkeypatch
):
    camille, link = camille_link
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_WEBHOOK_TARGETS", False)
    subscription = browser_subscription("https://127.0.0.1/send/abc")
    answer = anonymous.post(f"{link}/push-subscription", json=subscription)
    assert answer.status_code == 422
    assert "(loopback)" in answer.json["errors"]["address"][0]
    assert web_push_point(camille) is None


def test_a_subscription_needs_a_valid_link_and_web_push_configured(anonymous, camille_link, monkeypatch):
    camille, link = camille_link
    monkeypatch.delenv("WEBPUSH_VAPID_PRIVATE_KEY", raising=False)
    assert anonymous.post(f"{link}/push-subscription", json=browser_subscription()).status_code == 404
    assert (
        anonymous.post("/s/" + "A" * 70 + "/push-subscription", json=browser_subscription()).status_code
        == 404
    )
    assert web_push_point(camille) is None


# A native app registers its own device token with its user's token.


def test_a_phone_registers_and_removes_its_fcm_token_with_its_own_token(app, client):
    camille = make_user(make_location(), name="Camille")
    hugo = make_user(make_location(name="fr-other-shop"), name="Hugo")
    phone = user_client(app, camille)
    path = f"/preferences/{camille.user_uuid}/devices/fcm"

    answer = phone.put(path, json={"address": "fcm-registration-token-1"})
    assert answer.status_code == 200, answer.json
    assert (answer.json["channel"], answer.json["address"], answer.json["enabled"]) == (
        "fcm",
        "fcm-registration-token-1",
        True,
    )
    assert user_client(app, hugo).put(path, json={"address": "stolen"}).status_code == 403
    refused = phone.put(f"/preferences/{camille.user_uuid}/devices/sms", json={"address": "+33612345678"})
    assert (refused.status_code, refused.json["errors"]) == (
        422,
        {"channel": ["Not a device channel: one of fcm, webpush."]},
    )
    assert phone.delete(path).status_code == 204
    assert phone.delete(path).status_code == 404
