"""Contact points and per-channel preferences."""

import pytest

from nootification.models import Level
from tests.helpers.factories import make_location, make_user


@pytest.fixture
def user_uuid(db):
    return make_user(make_location(), level=Level.CRITICAL, push_address="device-1").user_uuid


def test_push_is_implied_by_the_push_address_until_set(client, user_uuid):
    assert client.get(f"/users/{user_uuid}/contact-points").json == []
    assert client.get(f"/preferences/{user_uuid}").json["channels"] == [
        {"channel": "push", "level": "CRITICAL", "enabled": True}
    ]


def test_contact_point_lifecycle(client, user_uuid):
    response = client.put(
        f"/users/{user_uuid}/contact-points/sms", json={"address": "+33612345678", "level": "standard"}
    )
    assert response.status_code == 200
    assert response.json == {
        "channel": "sms",
        "address": "+33612345678",
        "options": {},
        "enabled": True,
        "level": "STANDARD",
        "disabled_reason": None,
        "disabled_at": None,
    }
    assert [p["channel"] for p in client.get(f"/users/{user_uuid}").json["contact_points"]] == ["sms"]
    assert client.delete(f"/users/{user_uuid}/contact-points/sms").status_code == 204
    assert client.delete(f"/users/{user_uuid}/contact-points/sms").status_code == 404


@pytest.mark.parametrize(
    ("channel", "address", "field"),
    [
        ("sms", "0612345678", "address"),
        ("email", "not-an-email", "address"),
        ("slack", "general", "address"),
        ("telegram", "", "address"),
        ("webhook", "ftp://example.com/hook", "address"),
        ("teams", "http://example.com/hook", "address"),
    ],
)
def test_a_bad_address_is_refused_naming_the_field(app, client, user_uuid, channel, address, field):
    app.config["ALLOW_PRIVATE_WEBHOOK_TARGETS"] = False  # production: https only, public hosts only
    response = client.put(f"/users/{user_uuid}/contact-points/{channel}", json={"address": address})
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert client.get(f"/users/{user_uuid}/contact-points").json == []


def test_an_unknown_channel_is_refused(client, user_uuid):
    response = client.put(f"/users/{user_uuid}/contact-points/pigeon", json={"address": "roof"})
    assert response.status_code == 422
    assert response.json["errors"] == {"channel": ["Unknown channel."]}


def test_contact_points_of_an_unknown_user_are_a_404(client, db):
    assert client.put("/users/nobody/contact-points/sms", json={"address": "+33612345678"}).status_code == 404


def test_original_preferences_body_with_optional_channel_levels(client, user_uuid):
    client.put(f"/users/{user_uuid}/contact-points/sms", json={"address": "+33612345678"})
    response = client.put(
        "/preferences",
        json={
            "user_id": user_uuid,
            "level": "STANDARD",
            "channels": [{"channel": "sms", "level": "critical"}, {"channel": "push", "enabled": False}],
        },
    )
    assert response.status_code == 200
    assert response.json["channels"] == [
        {"channel": "push", "level": "STANDARD", "enabled": False},
        {"channel": "sms", "level": "CRITICAL", "enabled": True},
    ]


def test_a_channel_level_for_a_missing_contact_point_is_refused(client, user_uuid):
    response = client.put(
        "/preferences", json={"user_id": user_uuid, "level": "STANDARD", "channels": [{"channel": "sms"}]}
    )
    assert response.status_code == 422
    assert "channels" in response.json["errors"]
    assert client.get(f"/preferences/{user_uuid}").json["level"] == "CRITICAL"


def test_plain_http_webhooks_only_where_private_targets_are_allowed(app, client, user_uuid):
    path = f"/users/{user_uuid}/contact-points/teams"
    app.config["ALLOW_PRIVATE_WEBHOOK_TARGETS"] = True
    assert client.put(path, json={"address": "http://127.0.0.1:5000/teams/webhook/x"}).json["address"] == (
        "http://127.0.0.1:5000/teams/webhook/x"
    )
    app.config["ALLOW_PRIVATE_WEBHOOK_TARGETS"] = False
    assert client.put(path, json={"address": "http://93.184.215.14/teams/webhook/x"}).status_code == 422
