"""Receipts from the phone: `POST /deliveries/<id>/receipt` with a staff link or the user's own token."""

import pytest

from nootification.extensions import db
from nootification.models import Delivery, Level
from tests.helpers.factories import make_location, make_user
from tests.helpers.metrics import delta, scrape
from tests.helpers.staff import path_of, sent_alert, user_client


@pytest.fixture
def shop_staff(client):
    """A shop with Camille and Hugo, both told of every alert on push."""
    shop = make_location(display_name="Auchan La Rochelle")
    return make_user(shop, level=Level.STANDARD, name="Camille"), make_user(
        shop, level=Level.STANDARD, name="Hugo"
    )


@pytest.fixture
def delivered(client, stub, shop_staff):
    """An alert sent to both, with each one's (delivery id, staff link token) as the stub received them."""
    payload, links = sent_alert(client, stub)
    messages = stub.messages(payload["alert_uuid"])["messages"]
    return {
        message["target_user_uuid"]: (message["delivery_id"], path_of(links[message["target_user_uuid"]])[3:])
        for message in messages
    }


def stored(delivery_id: str) -> Delivery:
    """The delivery as the database has it now."""
    db.session.expire_all()
    return db.session.get(Delivery, delivery_id)


def receipt(client, delivery_id: str, **body):
    return client.post(f"/deliveries/{delivery_id}/receipt", json=body)


def test_the_service_worker_reports_received_then_seen_with_the_staff_link(
    anonymous, client, delivered, shop_staff
):
    camille, _ = shop_staff
    delivery_id, link = delivered[camille.user_uuid]
    before = scrape(client)

    received = receipt(anonymous, delivery_id, state="received", link=link)
    assert received.status_code == 200, received.json
    assert received.json["delivery_id"] == delivery_id
    assert received.json["delivered_at"] is not None and received.json["seen_at"] is None
    seen = receipt(anonymous, delivery_id, state="seen", link=link)
    assert seen.json["delivered_at"] == received.json["delivered_at"]
    assert seen.json["seen_at"] is not None
    # A late or repeated report changes nothing: the first moment of each stands.
    assert receipt(anonymous, delivery_id, state="received", link=link).json == seen.json

    after = scrape(client)
    assert (
        delta(before, after, "nootification_delivery_receipts_total", channel="push", state="received") == 1
    )
    assert delta(before, after, "nootification_delivery_receipts_total", channel="push", state="seen") == 1
    assert (
        delta(before, after, "nootification_alert_to_seen_seconds_count", channel="push", severity="critical")
        == 1
    )
    detail = client.get(f"/deliveries/{delivery_id}").json
    assert detail["delivered_at"] == received.json["delivered_at"]
    assert detail["seen_at"] == seen.json["seen_at"]


def test_seen_first_means_received_too(anonymous, delivered, shop_staff):
    camille, _ = shop_staff
    delivery_id, link = delivered[camille.user_uuid]
    answer = receipt(anonymous, delivery_id, state="seen", link=link).json
    assert answer["delivered_at"] == answer["seen_at"] is not None


def test_a_native_app_reports_with_its_own_token(app, delivered, shop_staff):
    camille, hugo = shop_staff
    delivery_id, _ = delivered[camille.user_uuid]
    assert receipt(user_client(app, camille), delivery_id, state="received").status_code == 200
    # Hugo's token, or Hugo's link, cannot speak for Camille's delivery; nor can an admin token.
    assert receipt(user_client(app, hugo), delivery_id, state="seen").status_code == 404
    assert stored(delivery_id).seen_at is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"state": "read", "link": "x"}, 422, "state"),
        ({"link": "x"}, 422, "state"),
        ({"state": "seen", "link": "A" * 70}, 404, "link"),
        ({"state": "seen"}, 401, None),
    ],
)
def test_bad_receipts_get_a_clear_error_and_change_nothing(
    anonymous, delivered, shop_staff, body, status, field
):
    camille, _ = shop_staff
    delivery_id, _ = delivered[camille.user_uuid]
    answer = receipt(anonymous, delivery_id, **body)
    assert answer.status_code == status, answer.json
    assert answer.json["code"] == status
    if field is not None:
        assert field in str(answer.json)
    assert stored(delivery_id).delivered_at is None


def test_a_link_speaks_only_for_its_own_user_and_alert(anonymous, client, delivered, shop_staff):
    camille, hugo = shop_staff
    camille_delivery, _ = delivered[camille.user_uuid]
    _, hugo_link = delivered[hugo.user_uuid]
    assert receipt(anonymous, camille_delivery, state="seen", link=hugo_link).status_code == 404
    assert receipt(client, camille_delivery, state="seen").status_code == 403
    assert receipt(anonymous, "no-such-delivery", state="seen", link=hugo_link).status_code == 404
    assert stored(camille_delivery).delivered_at is None


def test_metrics_series_for_receipts_and_gone_contact_points_exist_before_any_event(client):
    samples = scrape(client)
    for channel in ("webpush", "fcm"):
        for state in ("received", "seen"):
            assert (
                "nootification_delivery_receipts_total",
                frozenset({("channel", channel), ("state", state)}),
            ) in samples
        assert ("nootification_contact_points_gone_total", frozenset({("channel", channel)})) in samples


def test_a_link_of_another_alert_cannot_report_on_this_one(anonymous, client, stub, delivered, shop_staff):
    camille, _ = shop_staff
    delivery_id, _ = delivered[camille.user_uuid]
    _, later_links = sent_alert(client, stub)
    later_link = path_of(later_links[camille.user_uuid])[3:]
    assert receipt(anonymous, delivery_id, state="seen", link=later_link).status_code == 404
    assert stored(delivery_id).seen_at is None


def test_stats_show_delivered_and_seen_rates_per_channel_and_the_time_to_seen(
    anonymous, client, delivered, shop_staff
):
    camille, hugo = shop_staff
    camille_delivery, camille_link = delivered[camille.user_uuid]
    hugo_delivery, hugo_link = delivered[hugo.user_uuid]
    assert receipt(anonymous, camille_delivery, state="seen", link=camille_link).status_code == 200
    assert receipt(anonymous, hugo_delivery, state="received", link=hugo_link).status_code == 200

    engagement = client.get("/stats").json["engagement"]
    push = engagement["by_channel"]["push"]
    assert (push["sent"], push["delivered"], push["seen"]) == (2, 2, 1)
    assert (push["delivered_rate"], push["seen_rate"]) == (1.0, 0.5)
    assert push["alert_to_seen"]["count"] == 1 and push["alert_to_seen"]["p50"] >= 0
    assert {name: engagement[name] for name in ("sent", "delivered", "seen")} == {
        "sent": 2,
        "delivered": 2,
        "seen": 1,
    }
