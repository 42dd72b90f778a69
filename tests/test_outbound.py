"""Vendor events and claim notices are outbound records the engine runs as it runs deliveries: leased, retried
by the one policy, behind a breaker per destination, each attempt in the ledger; listed beside the alert's
deliveries and left out of the figures about staff."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from nootification.delivery.breakers import Breakers
from nootification.extensions import db, redis_queue
from nootification.models import (
    Alert,
    AttemptOutcomeKind,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Level,
    Outcome,
    utcnow,
)
from nootification.staff.claims import claim, record_outcome, told_about
from tests.helpers.factories import alert_payload, fail_next, make_location, make_user, stats_figures
from tests.helpers.processes import drain_queue, queue_due_retries
from tests.helpers.push import put_point
from tests.helpers.staff import user_client
from tests.helpers.vendor import Vendor, vendor_of

SLACK = {"Camille": "C0CAMILLE01", "Hugo": "C0HUGO0001"}


@pytest.fixture
def vendor(channels_app, serve_app) -> Vendor:
    return vendor_of(channels_app, serve_app)


@pytest.fixture
def on_slack(channels_app, admin, smtp_server):
    """A theft alert sent to Camille and Hugo on Slack by the engine; the alert and the two users."""
    shop = make_location()
    users = {name: make_user(shop, level=Level.STANDARD, name=name) for name in SLACK}
    for name, user in users.items():
        put_point(admin, user, "slack", SLACK[name])
    payload = alert_payload(label="theft")
    assert admin.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue(channels_app)
    return db.session.query(Alert).one(), users, payload


def records(kind: DeliveryKind) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.kind == kind).order_by(Delivery.id)))


def outcomes(record: Delivery) -> list[tuple[AttemptOutcomeKind, int | None]]:
    return [(attempt.outcome, attempt.http_status) for attempt in record.attempt_log]


def test_a_vendor_event_answered_500_is_retried_by_the_engine_and_recorded_in_the_ledger(
    channels_app, vendor, on_slack
):
    alert, users, _ = on_slack
    vendor.answers = [500]
    record_outcome(alert, users["Camille"], outcome=Outcome.THEFT_STOPPED)
    drain_queue(channels_app)

    [event] = records(DeliveryKind.VENDOR_EVENT)
    assert [received["id"] for received in vendor.events] == [event.id]
    assert (event.status, event.channel, event.attempts) == (DeliveryStatus.SENT, "vendor", 2)
    assert outcomes(event) == [(AttemptOutcomeKind.TRANSIENT, 500), (AttemptOutcomeKind.SENT, None)]


def test_a_claim_notice_edit_that_fails_is_retried_and_shows_in_the_ledger(
    channels_app, smtp_server, on_slack
):
    alert, users, _ = on_slack
    smtp_server.control(**fail_next(500, times=channels_app.config["SEND_MAX_ATTEMPTS"]))
    claim(alert, users["Camille"])
    drain_queue(channels_app)

    [notice] = records(DeliveryKind.CLAIM_NOTICE)
    assert (notice.status, notice.channel, notice.user_id) == (
        DeliveryStatus.SCHEDULED,
        "slack",
        users["Hugo"].id,
    )
    assert [outcome for outcome, _ in outcomes(notice)] == [AttemptOutcomeKind.TRANSIENT] * 3
    assert requests.get(f"{smtp_server.url}/edits", timeout=5).json()["edits"] == []

    queue_due_retries()
    drain_queue(channels_app)
    [notice] = records(DeliveryKind.CLAIM_NOTICE)
    assert (notice.status, outcomes(notice)[-1]) == (DeliveryStatus.SENT, (AttemptOutcomeKind.SENT, None))
    [edit] = requests.get(f"{smtp_server.url}/edits", timeout=5).json()["edits"]
    assert edit["ref"].startswith(SLACK["Hugo"]) and edit["text"].startswith("Camille is on it")


def test_an_open_breaker_on_the_vendors_host_puts_events_off(channels_app, vendor, on_slack):
    alert, users, _ = on_slack
    breaker = f"vendor:{urlsplit(vendor.url).netloc}"
    Breakers(redis_queue.connection, threshold=1, cooldown=60).record_failure(breaker)
    record_outcome(alert, users["Camille"], outcome=Outcome.FALSE_ALARM)
    drain_queue(channels_app)

    [event] = records(DeliveryKind.VENDOR_EVENT)
    assert (event.status, event.attempts, vendor.received) == (DeliveryStatus.SCHEDULED, 0, [])
    assert f"circuit {breaker} is open" in event.last_error
    assert event.next_attempt_at - utcnow() > timedelta(seconds=30)


def test_the_alert_lists_its_vendor_events_and_notices_beside_its_deliveries(
    channels_app, admin, vendor, on_slack
):
    alert, users, _ = on_slack
    record_outcome(alert, users["Camille"], outcome=Outcome.THEFT_STOPPED)  # claims it too
    drain_queue(channels_app)

    detail = admin.get(f"/alerts/{alert.alert_uuid}").json
    assert {d["kind"] for d in detail["deliveries"]} == {"alert"}
    assert sorted(d["channel"] for d in detail["deliveries"]) == ["push", "push", "slack", "slack"]
    listed = sorted((r["kind"], r["channel"], r["status"], r["attempts"]) for r in detail["outbound"])
    assert listed == [("claim_notice", "slack", "sent", 1), ("vendor_event", "vendor", "sent", 1)]
    [event] = detail["outcome_events"]
    assert (event["status"], event["attempts"]) == ("sent", 1)
    failed = admin.get("/deliveries", query_string={"kind": "vendor_event"}).json
    assert [item["id"] for item in failed["items"]] == [event["id"]]


def test_vendor_events_and_notices_are_left_out_of_the_figures_about_staff(
    channels_app, admin, vendor, on_slack
):
    alert, users, payload = on_slack
    before = stats_figures(admin)
    record_outcome(alert, users["Camille"], outcome=Outcome.FALSE_ALARM)
    drain_queue(channels_app)
    assert len(records(DeliveryKind.VENDOR_EVENT)) == len(records(DeliveryKind.CLAIM_NOTICE)) == 1

    assert stats_figures(admin)["deliveries"] == before["deliveries"]
    assert [(person.name, person.channels) for person in told_about(alert)] == [
        ("Camille", ("push", "slack")),
        ("Hugo", ("push", "slack")),
    ]
    again = admin.post("/webhooks/alerts", json=payload)
    assert again.status_code == 200 and again.json["delivery_count"] == 4


def test_a_new_device_notice_that_fails_is_retried_by_the_engine_and_exported_to_its_user(
    channels_app, admin, smtp_server
):
    camille = make_user(make_location(), name="Camille", locale="fr")
    put_point(admin, camille, "sms", "+33612345678")
    smtp_server.control(**fail_next(500, times=channels_app.config["SEND_MAX_ATTEMPTS"]))
    phone = user_client(channels_app, camille)
    assert (
        phone.put(f"/preferences/{camille.user_uuid}/devices/fcm", json={"address": "fcm-1"}).status_code
        == 200
    )
    drain_queue(channels_app)

    [notice] = records(DeliveryKind.DEVICE_NOTICE)
    assert (notice.status, notice.alert_id, notice.channel) == (DeliveryStatus.SCHEDULED, None, "sms")
    assert notice.deadline_at - notice.created_at == timedelta(days=1)
    queue_due_retries()
    drain_queue(channels_app)
    [notice] = records(DeliveryKind.DEVICE_NOTICE)
    assert notice.status is DeliveryStatus.SENT and len(notice.attempt_log) == 4

    [exported] = admin.get(f"/users/{camille.user_uuid}/export").json["notices"]
    assert (exported["kind"], exported["channel"], exported["status"]) == ("device_notice", "sms", "sent")


def test_a_failed_vendor_event_is_a_dead_letter_sent_again_like_any_other(
    channels_app, admin, vendor, on_slack
):
    alert, users, _ = on_slack
    vendor.answers = [422]
    record_outcome(alert, users["Camille"], outcome=Outcome.NOT_FOUND)
    drain_queue(channels_app)
    dead = admin.get("/deliveries", query_string={"status": "failed"}).json["items"]
    assert [(item["kind"], item["channel"]) for item in dead] == [("vendor_event", "vendor")]

    answer = admin.post(f"/deliveries/{dead[0]['id']}/retry")
    assert answer.status_code == 202 and answer.json["deadline_at"] is None
    drain_queue(channels_app)
    assert [received["id"] for received in vendor.events] == [dead[0]["id"]]
