"""The server's half of subscribing a phone: the VAPID public key, and `POST /s/<link>/push-subscription`."""

import os

import pytest

from nootification.extensions import db
from nootification.models import ContactPoint, Level, utcnow
from nootification.senders.webpush import b64url_encode
from nootification.services import contacts
from nootification.services.staff_links import link_expiry, link_token
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.push import browser_subscription, new_vapid_key
from tests.helpers.staff import user_client

SECRET = "test-only-secret-key"


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


def web_push_points(user) -> list[ContactPoint]:
    """The user's Web Push points, one per device, oldest first."""
    db.session.expire_all()
    query = db.select(ContactPoint).filter_by(user_id=user.id, channel="webpush").order_by(ContactPoint.id)
    return list(db.session.scalars(query))


def turn_off(point: ContactPoint, reason: str | None) -> None:
    """Turn a point off as an admin (no reason) or a gone subscription (its reason) does."""
    point.enabled, point.disabled_reason = False, reason
    point.disabled_at = utcnow() if reason else None
    db.session.commit()


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


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
    ],
)
def test_the_browsers_push_services_are_accepted(anonymous, vapid, camille_link, endpoint):
    camille, link = camille_link
    answer = anonymous.post(f"{link}/push-subscription", json=browser_subscription(endpoint))
    assert answer.status_code == 201, answer.json
    assert web_push_point(camille).address == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://attacker.example/collect",
        "https://fcm.googleapis.com.attacker.example/fcm/send/x",
        "https://evilpush.apple.com/x",
        "https://push.apple.com/x",
        "https://notify.windows.com.attacker.example/x",
        "https://fcm.googleapis.com@attacker.example/x",
        "https://x@fcm.googleapis.com/fcm/send/x",
    ],
)
def test_an_endpoint_elsewhere_than_a_known_push_service_is_refused_and_changes_nothing(
    anonymous, vapid, camille_link, endpoint
):
    camille, link = camille_link
    phone = browser_subscription()
    assert anonymous.post(f"{link}/push-subscription", json=phone).status_code == 201

    answer = anonymous.post(f"{link}/push-subscription", json=browser_subscription(endpoint))
    assert answer.status_code == 422, answer.json
    assert answer.json["errors"] == {
        "address": ["Refused: the endpoint is not at a known push service (WEB_PUSH_SERVICE_HOSTS)."]
    }
    [point] = web_push_points(camille)
    assert (point.address, point.options, point.enabled) == (phone["endpoint"], phone["keys"], True)


def test_the_known_push_services_are_a_setting(anonymous, app, vapid, camille_link, monkeypatch):
    camille, link = camille_link
    monkeypatch.setitem(app.config, "WEB_PUSH_SERVICE_HOSTS", ("push.example.net:8443",))
    refused = anonymous.post(f"{link}/push-subscription", json=browser_subscription())
    assert refused.status_code == 422
    elsewhere = browser_subscription("https://push.example.net/send/abc")
    assert anonymous.post(f"{link}/push-subscription", json=elsewhere).status_code == 422
    ours = browser_subscription("https://push.example.net:8443/send/abc")
    assert anonymous.post(f"{link}/push-subscription", json=ours).status_code == 201
    assert [point.address for point in web_push_points(camille)] == [ours["endpoint"]]


def test_each_phone_gets_a_point_of_its_own_and_subscribing_again_updates_it(anonymous, vapid, camille_link):
    camille, link = camille_link
    first = browser_subscription("https://fcm.googleapis.com/fcm/send/first")
    second = browser_subscription("https://web.push.apple.com/second")
    assert anonymous.post(f"{link}/push-subscription", json=first).status_code == 201
    assert anonymous.post(f"{link}/push-subscription", json=second).status_code == 201
    renewed = {**first, "keys": browser_subscription()["keys"]}
    assert anonymous.post(f"{link}/push-subscription", json=renewed).status_code == 201

    points = web_push_points(camille)
    assert [(p.address, p.options, p.enabled) for p in points] == [
        (first["endpoint"], renewed["keys"], True),
        (second["endpoint"], second["keys"], True),
    ]


@pytest.mark.parametrize("reason", [None, "the push subscription is gone (HTTP 410)"])
def test_a_link_never_turns_a_point_that_was_turned_off_back_on(anonymous, vapid, camille_link, reason):
    camille, link = camille_link
    phone = browser_subscription()
    assert anonymous.post(f"{link}/push-subscription", json=phone).status_code == 201
    turn_off(web_push_point(camille), reason)

    again = {**phone, "keys": browser_subscription()["keys"]}
    answer = anonymous.post(f"{link}/push-subscription", json=again)
    assert answer.status_code == 201, answer.json
    assert (answer.json["enabled"], answer.json["disabled_reason"]) == (False, reason)
    [point] = web_push_points(camille)
    assert (point.enabled, point.disabled_reason) == (False, reason)


def test_an_admin_turns_a_point_that_was_turned_off_back_on(client, vapid, camille_link):
    camille, link = camille_link
    phone = browser_subscription()
    assert client.post(f"{link}/push-subscription", json=phone).status_code == 201
    turn_off(web_push_point(camille), "the push subscription is gone (HTTP 410)")

    answer = client.put(
        f"/users/{camille.user_uuid}/contact-points/webpush",
        json={"address": phone["endpoint"], "options": phone["keys"], "enabled": True},
    )
    assert answer.status_code == 200, answer.json
    [point] = web_push_points(camille)
    assert (point.enabled, point.disabled_reason, point.disabled_at) == (True, None, None)


def test_the_users_own_token_turns_a_point_that_was_turned_off_back_on(app, anonymous, vapid, camille_link):
    camille, link = camille_link
    phone = browser_subscription()
    assert anonymous.post(f"{link}/push-subscription", json=phone).status_code == 201
    turn_off(web_push_point(camille), None)

    answer = user_client(app, camille).put(
        f"/preferences/{camille.user_uuid}/devices/webpush",
        json={"address": phone["endpoint"], "options": phone["keys"]},
    )
    assert answer.status_code == 200, answer.json
    [point] = web_push_points(camille)
    assert (point.enabled, point.disabled_reason) == (True, None)


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


def test_a_phone_registered_twice_at_once_gets_one_point(anonymous, vapid, camille_link, monkeypatch):
    """Two requests with the same new subscription: the one that commits second finds the first one's point
    when its insert collides, and updates it (no 500, no second point, the user told once)."""
    camille, link = camille_link
    phone = browser_subscription()
    assert anonymous.post(f"{link}/push-subscription", json=phone).status_code == 201
    lookups = []
    looked_up = contacts._point_on

    def not_yet_seen_once(*args):
        lookups.append(args)
        return None if len(lookups) == 1 else looked_up(*args)

    monkeypatch.setattr(contacts, "_point_on", not_yet_seen_once)

    again = {**phone, "keys": browser_subscription()["keys"]}
    answer = anonymous.post(f"{link}/push-subscription", json=again)
    assert answer.status_code == 201, answer.json
    [point] = web_push_points(camille)
    assert point.options == again["keys"]
    assert len(lookups) == 2
