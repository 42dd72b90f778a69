"""The admin endpoints: /locations and /users."""

import pytest

from tests.helpers.factories import alert_payload, make_location


def create_user(client, **fields):
    body = {"name": "Camille", "locations": ["fr-auchan-larochelle"], **fields}
    return client.post("/users", json=body)


@pytest.fixture
def shop(client):
    response = client.post(
        "/locations",
        json={"name": "fr-auchan-larochelle", "display_name": "Auchan", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 201
    return response.json


def test_location_lifecycle(client, shop):
    assert shop == {
        "name": "fr-auchan-larochelle",
        "display_name": "Auchan",
        "timezone": "Europe/Paris",
        "locale": "en",
        "escalate_after": 60.0,
        "escalation": [],
        "ladder": None,
        "claim_follow_up": False,
        "opening_hours": None,
        "closures": [],
        "off_hours_tier": [],
        "group_window_seconds": None,
    }
    assert client.get("/locations").json == [shop]
    changed = client.patch("/locations/fr-auchan-larochelle", json={"display_name": "Auchan La Rochelle"})
    assert changed.json["display_name"] == "Auchan La Rochelle"
    assert client.get("/locations/fr-auchan-larochelle").json["display_name"] == "Auchan La Rochelle"
    assert client.delete("/locations/fr-auchan-larochelle").status_code == 204
    assert client.get("/locations/fr-auchan-larochelle").status_code == 404


def test_display_name_defaults_to_the_name(client, db):
    assert client.post("/locations", json={"name": "fr-cora-metz"}).json["display_name"] == "fr-cora-metz"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "control\u0007character"}, "name"),
        ({"name": ""}, "name"),
        ({"display_name": "No name"}, "name"),
        ({"name": "fr-x", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_bad_location_is_a_422(client, db, body, field):
    response = client.post("/locations", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_duplicate_location_is_a_409(client, shop):
    response = client.post("/locations", json={"name": "fr-auchan-larochelle"})
    assert response.status_code == 409
    assert "name" in response.json["errors"]


def test_location_with_alerts_cannot_be_deleted(client, shop):
    create_user(client)
    client.post("/webhooks/alerts", json=alert_payload())
    assert client.delete("/locations/fr-auchan-larochelle").status_code == 409


def test_user_lifecycle(client, shop):
    make_location("fr-cora-metz")
    created = create_user(client, level="standard", push_address="device-1")
    assert created.status_code == 201
    user = created.json
    assert user["level"] == "STANDARD"
    assert user["locations"] == ["fr-auchan-larochelle"]
    uuid = user["user_uuid"]

    assert client.get(f"/users/{uuid}").json == user
    changed = client.patch(f"/users/{uuid}", json={"locations": ["fr-auchan-larochelle", "fr-cora-metz"]})
    assert changed.json["locations"] == ["fr-auchan-larochelle", "fr-cora-metz"]
    assert [u["user_uuid"] for u in client.get("/users?location=fr-cora-metz").json] == [uuid]
    assert client.get("/users?location=fr-nowhere").json == []

    assert client.delete(f"/users/{uuid}").status_code == 204
    assert client.get(f"/users/{uuid}").status_code == 404


def test_user_uuid_may_be_given(client, shop):
    uuid = "b36006d7-adfa-4f3c-a56c-addcb4e4f95d"
    assert create_user(client, user_uuid=uuid).json["user_uuid"] == uuid
    assert create_user(client, user_uuid=uuid).status_code == 409


def test_user_with_unknown_location_is_a_422(client, shop):
    response = create_user(client, locations=["fr-auchan-larochelle", "fr-nowhere"])
    assert response.status_code == 422
    assert response.json["errors"] == {"locations": ["Unknown locations: fr-nowhere."]}
    assert client.get("/users").json == []


def test_user_uuid_cannot_be_changed(client, shop):
    uuid = create_user(client).json["user_uuid"]
    response = client.patch(f"/users/{uuid}", json={"user_uuid": "b36006d7-adfa-4f3c-a56c-addcb4e4f95d"})
    assert response.status_code == 422
    assert "user_uuid" in response.json["errors"]


@pytest.mark.parametrize("path", ["/users/nobody", "/locations/nowhere"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_admin_resource_is_a_404(client, db, path, method):
    response = getattr(client, method)(path, json={} if method == "patch" else None)
    assert response.status_code == 404
