"""Escalation: a critical alert nobody claims goes to the shop's next tier, then the next, until claimed."""

from datetime import timedelta

import pytest

from nootification.extensions import db, redis_queue
from nootification.models import Alert, AlertEscalation, Delivery, Level
from nootification.periodic import sweep
from nootification.staff.claims import claim
from nootification.staff.escalation import escalate
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.staff import user_client

SHOP = "fr-auchan-larochelle"


@pytest.fixture
def tiers(client):
    """A shop with Camille on the floor, Marc its manager (tier 2) and Sécurité Ouest (tier 3)."""
    shop = make_location(SHOP)
    camille = make_user(shop, level=Level.CRITICAL, name="Camille")
    manager = make_user(level=Level.CRITICAL, name="Marc")
    security = make_user(level=Level.CRITICAL, name="Sécurité Ouest")
    answer = client.patch(
        f"/locations/{SHOP}",
        json={"escalate_after": 60, "escalation": [[manager.user_uuid], [security.user_uuid]]},
    )
    assert answer.status_code == 200, answer.json
    return camille, manager, security


def post(client, label: str = "theft") -> Alert:
    payload = alert_payload(SHOP, label=label)
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    return db.session.query(Alert).filter_by(alert_uuid=payload["alert_uuid"]).one()


def told(alert: Alert) -> dict[str, int]:
    """Who has a delivery of the alert, by name, with the step that made it."""
    db.session.expire_all()
    deliveries = db.session.query(Delivery).filter_by(alert_id=alert.id).all()
    return {delivery.user.name: delivery.escalation_step for delivery in deliveries}


def test_the_tiers_are_set_and_shown_through_the_locations_api(client, tiers):
    _, manager, security = tiers
    shown = client.get(f"/locations/{SHOP}").json
    assert (shown["escalate_after"], shown["escalation"]) == (60, [[manager.user_uuid], [security.user_uuid]])
    assert client.patch(f"/locations/{SHOP}", json={"escalation": []}).json["escalation"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"escalation": [["6f1c3f1e-8a57-4a43-a2f8-2f7f4f1e0c11"]]}, "escalation"),
        ({"escalation": [[]]}, "escalation"),
        ({"escalation": "managers"}, "escalation"),
        ({"escalate_after": -1}, "escalate_after"),
        ({"escalate_after": 86401}, "escalate_after"),
    ],
)
def test_bad_tiers_get_a_422_naming_the_field(client, tiers, body, field):
    answer = client.patch(f"/locations/{SHOP}", json=body)
    assert answer.status_code == 422 and field in answer.json["errors"], answer.json


def test_a_user_in_two_tiers_is_refused(client, tiers):
    _, manager, _ = tiers
    answer = client.patch(
        f"/locations/{SHOP}", json={"escalation": [[manager.user_uuid], [manager.user_uuid]]}
    )
    assert answer.status_code == 422 and "more than one tier" in answer.json["errors"]["escalation"][0]


def test_an_unclaimed_critical_alert_climbs_tier_by_tier_then_stops(client, tiers, stub, run_worker):
    alert = post(client)
    received = alert.received_at
    assert alert.next_escalation_at == received + timedelta(seconds=60)
    assert sweep(now=received + timedelta(seconds=59)).escalated == 0
    assert told(alert) == {"Camille": 0}

    redis_queue.connection.flushdb()  # a Redis restart that lost its data loses no step (they are in the DB)
    assert sweep(now=received + timedelta(seconds=61)).escalated == 1
    assert told(alert) == {"Camille": 0, "Marc": 1}
    assert sweep(now=received + timedelta(seconds=62)).escalated == 0  # the next is 60 s after this one
    assert sweep(now=received + timedelta(seconds=122)).escalated == 1
    assert told(alert) == {"Camille": 0, "Marc": 1, "Sécurité Ouest": 2}
    assert sweep(now=received + timedelta(seconds=500)).escalated == 0  # no tier left

    run_worker()
    assert stub.messages(alert.alert_uuid)["count"] == 3
    history = client.get(f"/alerts/{alert.alert_uuid}").json
    assert [(step["step"], step["tier"], step["deliveries"]) for step in history["escalations"]] == [
        (1, 2, 1),
        (2, 3, 1),
    ]
    assert history["escalations"][0]["reason"] == "nobody claimed it within 60 s"
    assert (history["escalation_step"], history["next_escalation_at"]) == (2, None)
    assert sorted(delivery["escalation_step"] for delivery in history["deliveries"]) == [0, 1, 2]


def test_a_claim_stops_every_later_step(client, tiers):
    camille, _, _ = tiers
    alert = post(client)
    received = alert.received_at
    assert sweep(now=received + timedelta(seconds=61)).escalated == 1
    claim(alert, camille)
    assert alert.next_escalation_at is None
    assert sweep(now=received + timedelta(seconds=500)).escalated == 0
    assert told(alert) == {"Camille": 0, "Marc": 1}


def test_an_escalated_manager_may_claim_through_the_api(app, client, tiers):
    _, manager, _ = tiers
    alert = post(client)
    sweep(now=alert.received_at + timedelta(seconds=61))

    answer = user_client(app, manager).post(f"/alerts/{alert.alert_uuid}/claim")
    assert answer.status_code == 200 and answer.json["claimed_by"] == "Marc"


def test_a_standard_alert_never_escalates(client, tiers):
    alert = post(client, label="suspicious")
    assert alert.next_escalation_at is None
    assert sweep(now=alert.received_at + timedelta(hours=1)).escalated == 0


def test_a_shop_with_escalate_after_0_never_escalates(client, tiers):
    client.patch(f"/locations/{SHOP}", json={"escalate_after": 0})
    assert post(client).next_escalation_at is None


def test_a_shop_without_tiers_stops_waiting_at_the_first_step_without_recording_one(client, tiers):
    client.patch(f"/locations/{SHOP}", json={"escalation": []})
    alert = post(client)
    assert sweep(now=alert.received_at + timedelta(seconds=61)).escalated == 0
    db.session.refresh(alert)
    assert (alert.next_escalation_at, alert.escalation_step) == (None, 0)
    assert db.session.query(AlertEscalation).count() == 0


def test_two_sweeps_at_once_take_a_step_once(client, tiers):
    alert = post(client)
    now = alert.received_at + timedelta(seconds=61)
    stale = db.session.get(Alert, alert.id)
    assert escalate(stale, now) is True
    stale.escalation_step = 0  # what a second sweep read before the first one wrote
    assert escalate(stale, now) is False
    assert told(alert) == {"Camille": 0, "Marc": 1}


def test_someone_already_told_on_a_channel_is_not_told_again(client, tiers):
    camille, _, _ = tiers
    client.patch(f"/locations/{SHOP}", json={"escalation": [[camille.user_uuid]]})
    alert = post(client)
    sweep(now=alert.received_at + timedelta(seconds=61))
    assert told(alert) == {"Camille": 0}
    assert [step.deliveries for step in db.session.query(AlertEscalation).all()] == [0]


def test_each_device_of_a_tier_is_told_once_and_a_device_added_since_is_told_at_the_step(client, tiers):
    camille, manager, _ = tiers
    for user, token in ((manager, "fcm-marc-phone"), (manager, "fcm-marc-tablet"), (camille, "fcm-camille")):
        answer = client.put(f"/users/{user.user_uuid}/contact-points/fcm", json={"address": token})
        assert answer.status_code == 200, answer.json
    client.post("/routes", json={"label": "theft", "channels": ["fcm"]})
    answer = client.patch(f"/locations/{SHOP}", json={"escalation": [[manager.user_uuid, camille.user_uuid]]})
    assert answer.status_code == 200, answer.json
    alert = post(client)
    # Camille's second phone registers after the alert went out; her first phone was told already.
    answer = client.put(f"/users/{camille.user_uuid}/contact-points/fcm", json={"address": "fcm-camille-new"})
    assert answer.status_code == 200, answer.json

    assert escalate(alert, alert.received_at + timedelta(seconds=60))
    db.session.expire_all()
    rows = db.session.query(Delivery).filter_by(alert_id=alert.id).order_by(Delivery.escalation_step).all()
    addresses = {point.id: point.address for user in (camille, manager) for point in user.contact_points}
    assert sorted((d.escalation_step, addresses[d.contact_point_id]) for d in rows) == [
        (0, "fcm-camille"),
        (1, "fcm-camille-new"),
        (1, "fcm-marc-phone"),
        (1, "fcm-marc-tablet"),
    ]
