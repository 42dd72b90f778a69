"""Leasing a batch: the compare-and-set under a lease, its renewal, and the joined read of what is sent."""

from datetime import timedelta

from nootification.delivery import lease as leasing
from nootification.extensions import db
from nootification.models import ContactPoint, DeliveryStatus, Level, utcnow
from tests.helpers.factories import alert_payload, make_location, make_user, stored_deliveries

LEASE_SECONDS = 120
SHOP = "fr-auchan-larochelle"


def post_alert(client, staff: int) -> list[str]:
    """One alert to a shop of `staff` STANDARD users; the ids of its queued deliveries."""
    shop = make_location(SHOP)
    for _ in range(staff):
        make_user(shop, level=Level.STANDARD)
    assert client.post("/webhooks/alerts", json=alert_payload(SHOP)).json["delivery_count"] == staff
    return [delivery.id for delivery in stored_deliveries()]


def test_a_lease_takes_each_waiting_delivery_once(client):
    ids = post_alert(client, 3)
    now = utcnow()
    assert sorted(leasing.take(db.session, ids, lease_seconds=LEASE_SECONDS, now=now)) == sorted(ids)
    assert leasing.take(db.session, ids, lease_seconds=LEASE_SECONDS, now=now) == []
    db.session.commit()
    lease = leasing.lease_for(now, LEASE_SECONDS)
    assert {(delivery.status, delivery.lease_expires_at) for delivery in stored_deliveries()} == {
        (DeliveryStatus.SENDING, lease)
    }


def test_renewal_moves_only_the_leases_still_held(client):
    ids = post_alert(client, 3)
    now = utcnow()
    leasing.take(db.session, ids, lease_seconds=LEASE_SECONDS, now=now)
    db.session.commit()
    lease = leasing.lease_for(now, LEASE_SECONDS)
    given_away = stored_deliveries()[0]
    given_away.lease_expires_at = lease + timedelta(seconds=5)  # the sweeper handed it to another worker
    db.session.commit()

    renewed = lease + timedelta(seconds=30)
    kept = leasing.renew(db.session, ids, lease=lease, renewed=renewed)
    db.session.commit()

    assert kept == set(ids) - {given_away.id}
    leases = {delivery.id: delivery.lease_expires_at for delivery in stored_deliveries()}
    assert leases == {
        delivery_id: lease + timedelta(seconds=5) if delivery_id == given_away.id else renewed
        for delivery_id in ids
    }


def test_load_reads_each_delivery_of_the_batch_with_its_alert_and_contact_points(client):
    ids = post_alert(client, 2)
    users = sorted({delivery.user for delivery in stored_deliveries()}, key=lambda user: user.id)
    numbers = {users[0].user_uuid: "+33612345678", users[1].user_uuid: "+33698765432"}
    for user in users:
        db.session.add(ContactPoint(user=user, channel="sms", address=numbers[user.user_uuid]))
    db.session.commit()

    loaded = {delivery.id: delivery for delivery in leasing.load(db.session, ids)}

    assert sorted(loaded) == sorted(ids)
    assert {
        delivery.user.user_uuid: [point.address for point in delivery.user.contact_points]
        for delivery in loaded.values()
    } == {user_uuid: [number] for user_uuid, number in numbers.items()}
    assert {delivery.alert.location.name for delivery in loaded.values()} == {SHOP}
    assert {delivery.attempts for delivery in loaded.values()} == {0}
