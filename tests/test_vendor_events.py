"""The loop back to the camera vendor: each outcome as a signed Standard Webhooks event, an outbound record
that the delivery engine sends and retries."""

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nootification.extensions import db, redis_queue
from nootification.models import (
    Alert,
    AuditEntry,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Level,
    Outcome,
    utcnow,
)
from nootification.periodic import sweep
from nootification.staff import vendor_events
from nootification.staff.claims import claim, record_outcome
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.processes import queue_due_retries
from tests.helpers.vendor import SECRET, Vendor, vendor_of


def stored_events() -> list[Delivery]:
    """The vendor events stored, oldest first, as the database holds them now."""
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(Delivery)
            .where(Delivery.kind == DeliveryKind.VENDOR_EVENT)
            .order_by(Delivery.created_at)
        )
    )


@pytest.fixture
def vendor(app, serve_app) -> Vendor:
    return vendor_of(app, serve_app)


@pytest.fixture
def alert_with_staff(client):
    shop = make_location()
    camille = make_user(shop, level=Level.STANDARD, name="Camille")
    payload = alert_payload(label="theft")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    return db.session.query(Alert).filter_by(alert_uuid=payload["alert_uuid"]).one(), camille


def test_a_recorded_outcome_reaches_the_vendor_signed_with_pseudonymous_staff(
    app, vendor, alert_with_staff, run_worker
):
    alert, camille = alert_with_staff
    claim(alert, camille, now=alert.received_at + timedelta(seconds=30))
    record_outcome(alert, camille, outcome=Outcome.THEFT_STOPPED, value_recovered=49.9)
    run_worker()

    [event] = vendor.events
    assert event["type"] == "alert.outcome"
    data = event["data"]
    assert (data["alert_uuid"], data["outcome"], data["value_recovered"]) == (
        alert.alert_uuid,
        "theft_stopped",
        49.9,
    )
    assert data["claimed_at"] == (alert.received_at + timedelta(seconds=30)).isoformat()
    assert data["claimed_by"] == data["recorded_by"] and data["claimed_by"].startswith("staff-")
    assert camille.user_uuid not in json.dumps(event) and "Camille" not in json.dumps(event)
    [stored] = stored_events()
    assert (stored.id, stored.status, stored.attempts) == (event["id"], DeliveryStatus.SENT, 1)
    assert (stored.channel, stored.user_id) == ("vendor", None)


def test_a_correction_by_its_author_or_an_admin_is_a_new_event_for_the_vendor(
    app, vendor, alert_with_staff, client, run_worker
):
    alert, camille = alert_with_staff
    record_outcome(alert, camille, outcome=Outcome.THEFT_STOPPED)
    record_outcome(alert, camille, outcome=Outcome.THEFT_NOT_STOPPED)
    answer = client.post(f"/alerts/{alert.alert_uuid}/outcome", json={"outcome": "false_alarm"})
    assert answer.status_code == 200
    run_worker()

    # Each event is one record; it carries the outcome as it stands when sent.
    assert len({event["id"] for event in vendor.received}) == 3
    assert vendor.received[-1]["data"]["outcome"] == "false_alarm"
    assert vendor.received[-1]["data"]["recorded_by"] is None  # an admin token is nobody's


def test_a_vendor_that_fails_gets_the_event_again_under_the_same_id_once_due(
    app, vendor, alert_with_staff, run_worker
):
    alert, camille = alert_with_staff
    vendor.answers = [503] * app.config["SEND_MAX_ATTEMPTS"]
    record_outcome(alert, camille, outcome=Outcome.FALSE_ALARM)
    run_worker()
    [event] = stored_events()
    assert (event.status, event.attempts, vendor.received) == (DeliveryStatus.SCHEDULED, 3, [])
    assert "HTTP 503" in event.last_error
    assert [attempt.http_status for attempt in event.attempt_log] == [503, 503, 503]

    queue_due_retries()
    run_worker()
    assert [received["id"] for received in vendor.events] == [event.id]
    [event] = stored_events()
    assert (event.status, event.retry_round) == (DeliveryStatus.SENT, 1)


def test_an_event_whose_job_redis_lost_is_sent_by_the_sweep(app, vendor, alert_with_staff, run_worker):
    alert, camille = alert_with_staff
    record_outcome(alert, camille, outcome=Outcome.NOT_FOUND)
    redis_queue.connection.flushdb()
    run_worker()
    assert vendor.received == []
    assert sweep(now=utcnow()).queued == 0  # within its grace, its job may still be on its way
    sweep(now=utcnow() + timedelta(seconds=app.config["PENDING_GRACE"] + 1))
    run_worker()
    assert [received["data"]["outcome"] for received in vendor.events] == ["not_found"]


def test_an_event_runs_out_of_rounds_after_outcome_event_max_attempts(
    app, vendor, alert_with_staff, run_worker
):
    app.config.update(OUTCOME_EVENT_MAX_ATTEMPTS=2, SEND_MAX_ATTEMPTS=1)
    alert, camille = alert_with_staff
    vendor.answers = [503, 503]
    record_outcome(alert, camille, outcome=Outcome.FALSE_ALARM)
    run_worker()
    assert stored_events()[0].status is DeliveryStatus.SCHEDULED
    queue_due_retries()
    run_worker()
    [event] = stored_events()
    assert (event.status, event.attempts, event.deadline_at) == (DeliveryStatus.FAILED, 2, None)
    assert "2 rounds of tries" in event.last_error


def test_an_outcome_event_can_be_replayed_by_an_admin(client, vendor, alert_with_staff, run_worker):
    alert, camille = alert_with_staff
    record_outcome(alert, camille, outcome=Outcome.FALSE_ALARM)
    run_worker()
    answer = client.post(f"/alerts/{alert.alert_uuid}/outcome/replay")
    assert answer.status_code == 202 and answer.json["status"] == "pending"
    [audited] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "outcome_event.replay"))
    assert (audited.target_type, audited.target_id, audited.actor_name) == (
        "alert",
        alert.alert_uuid,
        "tests",
    )
    assert (audited.before["status"], audited.after["status"]) == ("sent", "pending")
    run_worker()
    assert [received["id"] for received in vendor.received] == [answer.json["id"]] * 2
    detail = client.get(f"/alerts/{alert.alert_uuid}").json
    assert [event["status"] for event in detail["outcome_events"]] == ["sent"]


def test_replaying_an_alert_without_an_outcome_event_is_a_404(client, alert_with_staff):
    alert, _ = alert_with_staff
    answer = client.post(f"/alerts/{alert.alert_uuid}/outcome/replay")
    assert answer.status_code == 404 and answer.json["message"].startswith("No outcome event")


def test_without_a_vendor_url_no_event_is_written(app, alert_with_staff):
    alert, camille = alert_with_staff
    app.config["VENDOR_OUTCOME_URL"] = ""
    record_outcome(alert, camille, outcome=Outcome.FALSE_ALARM)
    assert stored_events() == []


def test_a_refusal_fails_the_event_for_good(app, vendor, alert_with_staff, run_worker):
    alert, camille = alert_with_staff
    vendor.answers = [422]
    record_outcome(alert, camille, outcome=Outcome.FALSE_ALARM)
    run_worker()
    [event] = stored_events()
    assert (event.status, event.attempts) == (DeliveryStatus.FAILED, 1)


def test_a_pseudonym_is_stable_and_differs_per_person_and_per_key(alert_with_staff):
    _, camille = alert_with_staff
    assert vendor_events.pseudonym(camille, b"key") == vendor_events.pseudonym(camille, b"key")
    assert vendor_events.pseudonym(camille, b"key") != vendor_events.pseudonym(camille, b"other key")
    assert vendor_events.pseudonym(None, b"key") is None
    assert vendor_events.pseudonym(camille, None) is None


def test_without_a_secret_key_the_vendor_gets_no_pseudonym_keyed_with_its_own_secret(
    app, vendor, alert_with_staff, run_worker
):
    alert, camille = alert_with_staff
    app.config["SECRET_KEY"] = None
    claim(alert, camille, now=alert.received_at + timedelta(seconds=30))
    record_outcome(alert, camille, outcome=Outcome.FALSE_ALARM)
    run_worker()

    [event] = vendor.events
    assert (event["data"]["outcome"], event["data"]["claimed_by"], event["data"]["recorded_by"]) == (
        "false_alarm",
        None,
        None,
    )
    # The vendor holds SECRET: a pseudonym keyed with it would tell them who is behind it.
    assert vendor_events.pseudonym(camille, SECRET.encode()) not in json.dumps(event)
