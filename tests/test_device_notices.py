"""A new phone registered for a user's alerts is told to the user on their other channels, in their language,
through the stub's SMS and SMTP; a phone that subscribes again is not new."""

import pytest

from nootification.models import Level, utcnow
from nootification.senders.segments import segments
from nootification.services.staff_links import link_expiry, link_token
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.processes import drain_queue
from tests.helpers.push import put_point, subscribe
from tests.helpers.staff import user_client

FRENCH = "Vos alertes arrivent désormais sur un nouveau téléphone."
ENGLISH = "A new phone now gets your alerts."


def staff_link(app, client, user) -> str:
    """The path of the user's staff link to a new alert of their shop."""
    payload = alert_payload(label="normal")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    expires = link_expiry(utcnow(), "critical", app.config)
    return f"/s/{link_token(payload['alert_uuid'], user.user_uuid, expires, app.config['SECRET_KEY'])}"


def texts_to(stub, channel: str, address: str) -> list[str]:
    """What the stub received on a channel for one address."""
    return [m["text"] for m in stub.messages(channel=channel)["messages"] if m["address"] == address]


@pytest.mark.parametrize(("locale", "notice"), [("fr", FRENCH), ("fr-FR", FRENCH), ("en", ENGLISH)])
def test_a_new_phone_is_told_on_the_users_other_channels_in_their_language(
    channels_app,
    admin,  # noqa: F811
    smtp_server,
    push_services,  # noqa: F811
    locale,
    notice,
):
    stub = smtp_server
    camille = make_user(make_location(), level=Level.CRITICAL, name="Camille", locale=locale)
    put_point(admin, camille, "sms", "+33612345678")
    put_point(admin, camille, "email", "camille@example.com")
    link = staff_link(channels_app, admin, camille)
    drain_queue()  # the alert's own deliveries (a normal alert: none for a CRITICAL user)

    phone = subscribe(stub.url, push_services)
    assert admin.post(f"{link}/push-subscription", json=phone).status_code == 201
    drain_queue()

    [sms] = texts_to(stub, "sms", "+33612345678")
    assert notice in sms
    assert segments(sms) == 1
    [mail] = texts_to(stub, "email", "camille@example.com")
    assert notice in mail

    # The same phone subscribing again is no new phone; a second phone is.
    renewed = {**phone, "keys": subscribe(stub.url, push_services)["keys"]}
    assert admin.post(f"{link}/push-subscription", json=renewed).status_code == 201
    drain_queue()
    assert len(texts_to(stub, "sms", "+33612345678")) == 1
    assert admin.post(f"{link}/push-subscription", json=subscribe(stub.url, push_services)).status_code == 201
    drain_queue()
    assert len(texts_to(stub, "sms", "+33612345678")) == 2


def test_a_phone_registered_with_the_users_own_token_is_told_too_but_not_on_channels_turned_off(
    channels_app,
    admin,  # noqa: F811
    smtp_server,
):
    stub = smtp_server
    camille = make_user(make_location(), name="Camille", locale="fr")
    put_point(admin, camille, "sms", "+33612345678")
    off = admin.put(
        f"/users/{camille.user_uuid}/contact-points/email",
        json={"address": "camille@example.com", "enabled": False},
    )
    assert off.status_code == 200
    phone = user_client(channels_app, camille)
    path = f"/preferences/{camille.user_uuid}/devices/fcm"
    assert phone.put(path, json={"address": "fcm-token-new-phone"}).status_code == 200
    drain_queue()

    [sms] = texts_to(stub, "sms", "+33612345678")
    assert FRENCH in sms
    assert texts_to(stub, "email", "camille@example.com") == []
    assert stub.messages(channel="fcm")["messages"] == []
