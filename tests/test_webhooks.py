import time
import uuid

import pytest
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryStatus, Level
from tests.helpers.factories import alert_payload, make_location, make_user


@pytest.fixture
def shop(db):
    location = make_location()
    make_user(location, level=Level.STANDARD)
    make_user(location, level=Level.CRITICAL)
    return location


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("path", ["/webhooks/alerts", "/webhooks/alerts/"])
def test_theft_alert_is_stored_and_queued_for_every_user(client, shop, path):
    payload = alert_payload()
    response = client.post(path, json=payload)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["alert_uuid"] == payload["alert_uuid"]
    assert body["severity"] == "critical"
    assert body["delivery_count"] == 2
    assert body["location"] == "fr-auchan-larochelle"
    assert body["time_spotted"] == pytest.approx(payload["time_spotted"], abs=1e-3)
    statuses = db.session.scalars(sa.select(Delivery.status)).all()
    assert statuses == [DeliveryStatus.QUEUED, DeliveryStatus.QUEUED]


def test_standard_alert_reaches_standard_users_only(client, shop):
    response = client.post("/webhooks/alerts", json=alert_payload(label="Suspicious"))
    assert response.status_code == 201
    assert response.json["label"] == "suspicious"
    assert response.json["severity"] == "standard"
    assert response.json["delivery_count"] == 1


def test_same_alert_twice_is_answered_200_and_sends_nothing_more(client, shop):
    payload = alert_payload()
    first = client.post("/webhooks/alerts", json=payload)
    again = client.post("/webhooks/alerts", json=payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["delivery_count"] == 2
    assert again.json["received_at"] == first.json["received_at"]
    assert count(Alert) == 1
    assert count(Delivery) == 2


@pytest.mark.parametrize(
    "change",
    [{"label": "normal"}, {"url": "https://media.example.com/other.mp4"}, {"time_spotted": 1742470260.0}],
)
def test_same_uuid_with_other_content_is_a_conflict(client, shop, change):
    payload = alert_payload()
    client.post("/webhooks/alerts", json=payload)
    response = client.post("/webhooks/alerts", json={**payload, **change})
    assert response.status_code == 409
    assert "alert_uuid" in response.json["errors"]
    assert count(Delivery) == 2


NOW = time.time()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "ftp://media.example.com/a.mp4"),
        ("url", "not a url"),
        ("url", "https://media.example.com/" + "a" * 2048),
        ("url", None),
        ("location", ""),
        ("location", 12),
        ("alert_uuid", "not-a-uuid"),
        ("label", "burglary"),
        ("label", ""),
        ("time_spotted", "yesterday"),
        ("time_spotted", 946684799.0),
        ("time_spotted", NOW + 2 * 86400),
        ("time_spotted", 1e308),
        ("time_spotted", 10**400),
        ("time_spotted", -1),
        ("time_spotted", True),
    ],
)
def test_bad_field_is_refused_with_its_reason_and_nothing_stored(client, shop, field, value):
    response = client.post("/webhooks/alerts", json=alert_payload(**{field: value}))
    assert response.status_code == 422, response.json
    assert response.json["code"] == 422
    assert list(response.json["errors"]) == [field]
    assert count(Alert) == 0


@pytest.mark.parametrize("field", ["url", "location", "alert_uuid", "label", "time_spotted"])
def test_missing_field_is_refused(client, shop, field):
    payload = alert_payload()
    del payload[field]
    response = client.post("/webhooks/alerts", json=payload)
    assert response.status_code == 422
    assert response.json["errors"] == {field: ["Missing data for required field."]}


def test_unknown_location_is_refused_on_location(client, shop):
    response = client.post("/webhooks/alerts", json=alert_payload(location="fr-nowhere"))
    assert response.status_code == 422
    assert response.json["errors"] == {"location": ["Unknown location."]}
    assert count(Alert) == 0


def test_malformed_json_is_a_400(client, shop):
    response = client.post("/webhooks/alerts", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json["status"] == "Bad Request"


def test_json_that_is_not_an_object_is_refused(client, shop):
    response = client.post("/webhooks/alerts", json=[1, 2])
    assert response.status_code == 422
    assert count(Alert) == 0


def test_form_body_is_a_415(client, shop):
    response = client.post("/webhooks/alerts", data=alert_payload())
    assert response.status_code == 415
    assert response.json["code"] == 415


def test_body_over_64_kib_is_a_413(client, shop):
    response = client.post("/webhooks/alerts", json=alert_payload(padding="x" * 70_000))
    assert response.status_code == 413
    assert response.json["code"] == 413


def test_alert_for_a_shop_without_staff_produces_no_delivery(client, db):
    make_location("fr-empty-shop")
    response = client.post("/webhooks/alerts", json=alert_payload(location="fr-empty-shop"))
    assert response.status_code == 201
    assert response.json["delivery_count"] == 0


def test_redis_down_at_ingest_still_accepts_and_keeps_deliveries_pending(client, shop, redis_down):
    response = client.post("/webhooks/alerts", json=alert_payload(alert_uuid=str(uuid.uuid4())))
    assert response.status_code == 201
    assert response.json["delivery_count"] == 2
    assert set(db.session.scalars(sa.select(Delivery.status))) == {DeliveryStatus.PENDING}
