"""Native push through the whole pipeline: an alert reaches phones by Web Push and FCM through the stub, and
a subscription or device token the push service says is gone turns its contact point off."""

import requests
import sqlalchemy as sa

from nootification.extensions import db as _db
from nootification.models import ContactPoint, Delivery, Level, utcnow
from nootification.services.contacts import GoneContact, disable_gone
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.metrics import delta, scrape
from tests.helpers.processes import drain_queue
from tests.helpers.push import put_point, subscribe
from third_party import UNREGISTERED_FCM_TOKEN


def points_of(user, channel: str) -> list[ContactPoint]:
    """The user's points on a channel (one per device on a device channel), oldest first."""
    _db.session.expire_all()
    query = sa.select(ContactPoint).filter_by(user_id=user.id, channel=channel).order_by(ContactPoint.id)
    return list(_db.session.scalars(query))


def point_of(user, channel: str) -> ContactPoint:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(ContactPoint).filter_by(user_id=user.id, channel=channel))


def test_an_alert_reaches_phones_by_web_push_and_fcm_and_gone_ones_are_turned_off(
    channels_app, admin, smtp_server, push_services
):
    stub = smtp_server
    shop = make_location(display_name="Auchan La Rochelle")
    camille = make_user(shop, level=Level.STANDARD, name="Camille")
    hugo = make_user(shop, level=Level.STANDARD, name="Hugo")
    camille_subscription = subscribe(stub.url, push_services)
    hugo_subscription = subscribe(stub.url, push_services)
    put_point(admin, camille, "webpush", camille_subscription["endpoint"], **camille_subscription["keys"])
    put_point(admin, camille, "fcm", "fcm-token-camille")
    put_point(admin, hugo, "webpush", hugo_subscription["endpoint"], **hugo_subscription["keys"])
    put_point(admin, hugo, "fcm", UNREGISTERED_FCM_TOKEN + "-hugo")
    admin.post("/routes", json={"label": "theft", "channels": ["webpush", "fcm"]})
    # Hugo uninstalled the page's web app: his subscription ends at the push service.
    hugo_id = hugo_subscription["endpoint"].rsplit("/", 1)[1]
    assert requests.delete(f"{stub.url}/webpush/subscriptions/{hugo_id}", timeout=5).status_code == 204

    before = scrape(admin)
    theft = alert_payload(label="theft")
    assert admin.post("/webhooks/alerts", json=theft).json["delivery_count"] == 4
    drain_queue()

    [pushed] = stub.messages(theft["alert_uuid"], channel="webpush")["messages"]
    assert pushed["payload"]["title"].startswith("Theft") and pushed["payload"]["action_url"].startswith(
        channels_app.config["PUBLIC_URL"] + "/s/"
    )
    [fcm] = stub.messages(theft["alert_uuid"], channel="fcm")["messages"]
    assert fcm["address"] == "fcm-token-camille"
    statuses = dict(
        _db.session.execute(
            sa.select(Delivery.channel, Delivery.status).where(Delivery.user_id == hugo.id)
        ).all()
    )
    assert statuses == {"webpush": "failed", "fcm": "failed"}

    for channel, reason in (("webpush", "the push subscription is gone (HTTP 410)"), ("fcm", "UNREGISTERED")):
        point = point_of(hugo, channel)
        assert not point.enabled and reason in point.disabled_reason and point.disabled_at is not None
        assert point_of(camille, channel).enabled
    after = scrape(admin)
    assert delta(before, after, "nootification_contact_points_gone_total", channel="webpush") == 1
    assert delta(before, after, "nootification_contact_points_gone_total", channel="fcm") == 1
    shown = admin.get(f"/users/{hugo.user_uuid}/contact-points").json
    assert {p["channel"]: p["enabled"] for p in shown} == {"fcm": False, "webpush": False}

    # A contact point that is off gets no delivery for the next alert.
    second = alert_payload(label="theft")
    assert admin.post("/webhooks/alerts", json=second).json["delivery_count"] == 2


def test_a_phone_that_subscribed_again_meanwhile_keeps_its_new_subscription(
    channels_app, admin, smtp_server, push_services
):
    """The push service's "gone" is about the device the message went to: a new subscription made while that
    message was in flight is a device of its own, and stays on."""
    stub = smtp_server
    camille = make_user(make_location(), level=Level.STANDARD, name="Camille")
    old, new = subscribe(stub.url, push_services), subscribe(stub.url, push_services)
    put_point(admin, camille, "webpush", old["endpoint"], **old["keys"])
    admin.post("/routes", json={"label": "theft", "channels": ["webpush"]})
    assert admin.post("/webhooks/alerts", json=alert_payload(label="theft")).json["delivery_count"] == 1
    delivery_id = _db.session.scalar(sa.select(Delivery.id))
    put_point(admin, camille, "webpush", new["endpoint"], **new["keys"])

    # A "gone" that names another address than the delivery's device turns nothing off.
    disable_gone(_db.session, [GoneContact(delivery_id, "webpush", new["endpoint"], "gone")], now=utcnow())
    _db.session.commit()
    assert all(point.enabled for point in points_of(camille, "webpush"))

    disable_gone(_db.session, [GoneContact(delivery_id, "webpush", old["endpoint"], "gone")], now=utcnow())
    _db.session.commit()
    assert [(p.address, p.enabled, p.disabled_reason) for p in points_of(camille, "webpush")] == [
        (old["endpoint"], False, "gone"),
        (new["endpoint"], True, None),
    ]


def test_each_of_a_users_phones_gets_the_alert_and_a_gone_one_alone_is_turned_off(
    channels_app, admin, smtp_server, push_services
):
    stub = smtp_server
    camille = make_user(make_location(), level=Level.STANDARD, name="Camille")
    phone, tablet = subscribe(stub.url, push_services), subscribe(stub.url, push_services)
    put_point(admin, camille, "webpush", phone["endpoint"], **phone["keys"])
    put_point(admin, camille, "webpush", tablet["endpoint"], **tablet["keys"])
    put_point(admin, camille, "fcm", "fcm-token-phone")
    put_point(admin, camille, "fcm", "fcm-token-tablet")
    admin.post("/routes", json={"label": "theft", "channels": ["webpush", "fcm"]})
    # The tablet's web app was uninstalled: its subscription ends at the push service.
    tablet_id = tablet["endpoint"].rsplit("/", 1)[1]
    assert requests.delete(f"{stub.url}/webpush/subscriptions/{tablet_id}", timeout=5).status_code == 204

    theft = alert_payload(label="theft")
    assert admin.post("/webhooks/alerts", json=theft).json["delivery_count"] == 4
    drain_queue()

    [pushed] = stub.messages(theft["alert_uuid"], channel="webpush")["messages"]
    assert phone["endpoint"].endswith(f"/{pushed['address']}")
    fcm = stub.messages(theft["alert_uuid"], channel="fcm")["messages"]
    assert sorted(message["address"] for message in fcm) == ["fcm-token-phone", "fcm-token-tablet"]
    points = {point.address: point for point in points_of(camille, "webpush") + points_of(camille, "fcm")}
    deliveries = _db.session.execute(sa.select(Delivery.contact_point_id, Delivery.status)).all()
    assert sorted((points_by_id(points)[point_id], status) for point_id, status in deliveries) == sorted(
        [
            (phone["endpoint"], "sent"),
            (tablet["endpoint"], "failed"),
            ("fcm-token-phone", "sent"),
            ("fcm-token-tablet", "sent"),
        ]
    )
    assert [(p.address, p.enabled) for p in points_of(camille, "webpush")] == [
        (phone["endpoint"], True),
        (tablet["endpoint"], False),
    ]
    shown = admin.get(f"/users/{camille.user_uuid}").json["contact_points"]
    assert sorted((p["channel"], p["enabled"]) for p in shown) == [
        ("fcm", True),
        ("fcm", True),
        ("webpush", False),
        ("webpush", True),
    ]

    # The next alert goes to the three devices still on.
    assert admin.post("/webhooks/alerts", json=alert_payload(label="theft")).json["delivery_count"] == 3


def points_by_id(points: dict[str, ContactPoint]) -> dict[int, str]:
    """Each point's address by its id."""
    return {point.id: address for address, point in points.items()}
