"""Routing rules: precedence, management, and what they do to an alert's deliveries."""

import pytest

from nootification.models import Alert, Level
from nootification.services.routing import routed_channels
from tests.helpers.factories import alert_payload, make_location, make_user


@pytest.fixture
def shops(db):
    return make_location("fr-a"), make_location("fr-b")


def add_route(client, label, channels, location=None):
    response = client.post("/routes", json={"label": label, "channels": channels, "location": location})
    assert response.status_code == 201, response.json
    return response.json


def test_no_rule_means_every_channel(client, shops):
    assert routed_channels(Alert(location=shops[0], label="theft")) is None


def test_the_most_specific_rule_wins(client, shops):
    add_route(client, "*", ["push"])
    add_route(client, "theft", ["push", "sms"])
    add_route(client, "*", ["email"], location="fr-a")
    add_route(client, "theft", ["slack"], location="fr-a")
    a, b = shops
    assert routed_channels(Alert(location=a, label="theft")) == {"slack"}
    assert routed_channels(Alert(location=a, label="normal")) == {"email"}
    assert routed_channels(Alert(location=b, label="theft")) == {"push", "sms"}
    assert routed_channels(Alert(location=b, label="normal")) == {"push"}


def test_route_lifecycle(client, shops):
    route = add_route(client, "Suspicious", ["push", "push", "sms"], location="fr-b")
    assert route == {
        "id": route["id"],
        "location": "fr-b",
        "label": "suspicious",
        "channels": ["push", "sms"],
    }
    assert client.get("/routes").json == [route]
    assert client.put(f"/routes/{route['id']}", json={"channels": ["email"]}).json["channels"] == ["email"]
    assert client.get(f"/routes/{route['id']}").json["channels"] == ["email"]
    assert client.delete(f"/routes/{route['id']}").status_code == 204
    assert client.get(f"/routes/{route['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"label": "burglary", "channels": ["push"]}, 422, "label"),
        ({"label": "theft", "channels": ["pigeon"]}, 422, "channels"),
        ({"label": "theft", "channels": ["push"], "location": "fr-nowhere"}, 404, None),
        ({"channels": ["push"]}, 422, "label"),
    ],
)
def test_bad_routes_are_refused(client, shops, body, status, field):
    response = client.post("/routes", json=body)
    assert response.status_code == status
    if field:
        assert field in response.json["errors"]
    assert client.get("/routes").json == []


@pytest.mark.parametrize("location", [None, "fr-a"])
def test_one_rule_per_location_and_label(client, shops, location):
    add_route(client, "theft", ["push"], location=location)
    response = client.post("/routes", json={"label": "theft", "channels": ["sms"], "location": location})
    assert response.status_code == 409


def test_routing_and_channel_levels_decide_the_deliveries(client, shops):
    shop = shops[0]
    user = make_user(shop, level=Level.STANDARD)
    client.put(
        f"/users/{user.user_uuid}/contact-points/sms", json={"address": "+33612345678", "level": "CRITICAL"}
    )
    add_route(client, "theft", ["push", "sms"])
    add_route(client, "suspicious", ["push", "sms"])

    theft = client.post("/webhooks/alerts", json=alert_payload(location="fr-a", label="theft")).json
    suspicious = client.post("/webhooks/alerts", json=alert_payload(location="fr-a", label="suspicious")).json
    normal = client.post("/webhooks/alerts", json=alert_payload(location="fr-a", label="normal")).json

    channels = {
        name: sorted(d["channel"] for d in client.get(f"/alerts/{alert['alert_uuid']}").json["deliveries"])
        for name, alert in (("theft", theft), ("suspicious", suspicious), ("normal", normal))
    }
    assert channels == {"theft": ["push", "sms"], "suspicious": ["push"], "normal": ["push"]}
