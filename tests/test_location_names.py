"""Shop names as the video-analytics system sends them: any printable text, stored and matched exactly."""

import json
from urllib.parse import quote

import pytest

from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.factories import stored_deliveries as deliveries

NAMES = [
    "Intermarché",
    "Super U",
    "Carrefour Market",
    "L'Épicerie d'Élise & Fils",
    "Auchan A/B (Lille) 50%",
    "東京 店 ☕",
    "é" * 255,
]


def post_raw(client, path: str, body: str):
    """POST a JSON text as given: json.dumps cannot write a lone surrogate, a client can."""
    return client.post(path, data=body.encode("utf-8", "surrogatepass"), content_type="application/json")


@pytest.mark.parametrize("name", NAMES)
def test_a_name_as_sent_is_stored_served_and_matched_exactly(client, run_worker, stub, name):
    created = client.post("/locations", json={"name": name, "timezone": "Europe/Paris"})
    assert created.status_code == 201, created.json
    assert created.json["name"] == name
    path = "/locations/" + quote(name, safe="")
    assert client.get(path).json["name"] == name
    assert client.patch(path, json={"display_name": "Renamed"}).json["display_name"] == "Renamed"
    user = client.post("/users", json={"name": "Camille", "locations": [name], "level": "STANDARD"}).json
    assert client.get("/users", query_string={"location": name}).json[0]["user_uuid"] == user["user_uuid"]
    payload = alert_payload(location=name)

    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    run_worker()

    assert client.get(f"/alerts/{payload['alert_uuid']}").json["location"] == name
    [message] = stub.messages(payload["alert_uuid"])["messages"]
    assert message["location"] == name
    stats = client.get("/stats", query_string={"location": name}).json
    assert stats["location"] == name and list(stats["locations"]) == [name]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (r"bell\u0007", "printable"),
        (r"two\nlines", "printable"),
        (r"tab\there", "printable"),
        (r"lone \ud800 surrogate", "surrogate"),
        (r"no\u00a0break space", "printable"),
        (r"delete\u007f", "printable"),
        (" Carrefour", "space"),
        ("Carrefour ", "space"),
        ("", "Length"),
        ("x" * 256, "Length"),
    ],
)
def test_a_name_that_is_not_printable_text_is_refused_with_a_422(client, db, name, reason):
    response = post_raw(client, "/locations", '{"name": "' + name + '"}')
    assert response.status_code == 422, response.json
    assert response.json["errors"]["name"]
    assert reason.lower() in json.dumps(response.json["errors"]["name"]).lower()
    assert client.get("/locations").json == []


@pytest.mark.parametrize("location", [r"Casino\u0001", r"Casino\u001b[31m", r"\udfff", "\\u2028"])
def test_an_alert_whose_location_is_not_printable_is_a_422_on_location(client, db, location):
    make_user(make_location())
    body = json.dumps(alert_payload()).replace('"fr-auchan-larochelle"', f'"{location}"')
    response = post_raw(client, "/webhooks/alerts", body)
    assert response.status_code == 422
    assert "location" in response.json["errors"]
    assert deliveries() == []


def test_a_name_differing_only_in_case_or_unicode_form_is_a_409_not_a_merge(client, db):
    assert client.post("/locations", json={"name": "Intermarché"}).status_code == 201
    for twin in ("intermarché", "INTERMARCHÉ", "Intermarche\u0301"):
        response = client.post("/locations", json={"name": twin})
        assert response.status_code == 409, twin
        assert "Intermarché" in response.json["message"]
    assert [location["name"] for location in client.get("/locations").json] == ["Intermarché"]


def test_an_alert_is_matched_by_the_exact_name(client, db):
    make_user(make_location())
    for near_miss in ("Fr-auchan-larochelle", "fr-auchan-larochelle ", " fr-auchan-larochelle"):
        response = client.post("/webhooks/alerts", json=alert_payload(location=near_miss))
        assert response.status_code == 422
        assert response.json["errors"] == {"location": ["Unknown location."]}
    assert deliveries() == []


@pytest.mark.parametrize(
    ("given", "stored"), [("both", "STANDARD"), ("Both", "STANDARD"), ("critical", "CRITICAL")]
)
def test_the_original_services_levels_are_accepted_in_any_case(client, db, given, stored):
    make_location()
    user = make_user()
    response = client.put("/preferences", json={"user_id": user.user_uuid, "level": given})
    assert response.status_code == 200, response.json
    assert response.json["level"] == stored
    assert (
        client.post("/users", json={"locations": ["fr-auchan-larochelle"], "level": given}).json["level"]
        == stored
    )
