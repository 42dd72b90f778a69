"""Forgetting on time: clips past RETENTION_CLIP_DAYS, ledger texts past RETENTION_MESSAGE_DAYS, the daily
purge and `flask purge`."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from nootification.cli import StopAwareScheduler
from nootification.delivery import outbound
from nootification.delivery.queue import delivery_queue, periodic_scheduler
from nootification.delivery.retention import (
    PURGE_INTERVAL,
    PURGE_JOB,
    PURGER_ID,
    ensure_purge,
    schedule_purge,
)
from nootification.extensions import db, redis_queue
from nootification.models import (
    Alert,
    AttemptOutcomeKind,
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    Level,
    SmsReply,
    utcnow,
)
from nootification.services import retention
from nootification.services.retention import Pace, purge
from tests.helpers.factories import alert_payload, make_location, make_user, stats_figures

CLIP_GONE = timedelta(days=31)
MESSAGES_GONE = timedelta(days=91)


@pytest.fixture
def shop(client):
    """A shop with two members of staff told of every alert on push."""
    shop = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris")
    make_user(shop, level=Level.STANDARD, name="Camille")
    make_user(shop, level=Level.STANDARD, name="Hugo")
    return shop


def sent_alert(client, run_worker, stub) -> tuple[dict, dict[str, str]]:
    """Post an alert, deliver it, and return it with each recipient's staff link path as the stub got it."""
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    run_worker()
    messages = stub.messages(payload["alert_uuid"])["messages"]
    links = {message["target_user_uuid"]: message["action_url"] for message in messages}
    return payload, {user: "/s/" + url.rpartition("/s/")[2] for user, url in links.items() if url}


def ledger_of(alert_uuid: str) -> list[tuple[Delivery, list[DeliveryAttempt]]]:
    """Each delivery of the alert with its attempts, as stored now."""
    db.session.expire_all()
    alert = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == alert_uuid))
    return [(delivery, list(delivery.attempt_log)) for delivery in alert.deliveries]


def test_the_clip_goes_after_its_retention_and_the_counts_stay(client, shop, run_worker, stub):
    payload, _ = sent_alert(client, run_worker, stub)
    stats = stats_figures(client)

    assert purge(now=utcnow() + timedelta(days=29)).clips == 0
    dry = purge(now=utcnow() + CLIP_GONE, dry_run=True)
    assert (dry.clips, dry.message_alerts, dry.dry_run) == (1, 0, True)
    # A dry run changes nothing.
    assert client.get(f"/alerts/{payload['alert_uuid']}").json["url"] == payload["url"]

    report = purge(now=utcnow() + CLIP_GONE)

    assert (report.clips, report.message_alerts) == (1, 0)
    alert = client.get(f"/alerts/{payload['alert_uuid']}").json
    assert alert["url"] is None and alert["clip_removed_at"] is not None
    assert len(alert["deliveries"]) == 2
    assert stats_figures(client) == stats
    assert purge(now=utcnow() + CLIP_GONE).clips == 0  # done once


def test_the_ledger_texts_go_after_their_retention_and_the_rows_and_timings_stay(
    client, shop, run_worker, stub
):
    stub.control(fail_next=2, fail_next_status=400)  # both refused: each delivery and attempt quotes an error
    payload, _ = sent_alert(client, run_worker, stub)
    with db.engine.begin() as connection:  # as Slack or Telegram leave it: the chat and message ids
        connection.execute(sa.update(DeliveryAttempt).values(provider_ref="C0123:1712.5"))
    before = [
        (
            delivery.status,
            delivery.updated_at,
            [(a.started_at, a.finished_at, a.outcome, a.error_class) for a in log],
        )
        for delivery, log in ledger_of(payload["alert_uuid"])
    ]
    assert all(
        delivery.last_error and log[0].error_message for delivery, log in ledger_of(payload["alert_uuid"])
    )
    stats = stats_figures(client)

    early = purge(now=utcnow() + timedelta(days=89))
    assert (early.clips, early.message_alerts, early.deliveries, early.attempts) == (1, 0, 0, 0)
    dry = purge(now=utcnow() + MESSAGES_GONE, dry_run=True)
    assert (dry.clips, dry.message_alerts, dry.deliveries, dry.attempts) == (0, 1, 2, 2)
    assert all(delivery.last_error for delivery, _ in ledger_of(payload["alert_uuid"]))

    report = purge(now=utcnow() + MESSAGES_GONE)

    assert (report.clips, report.message_alerts, report.deliveries, report.attempts) == (0, 1, 2, 2)
    ledger = ledger_of(payload["alert_uuid"])
    assert [
        (
            delivery.status,
            delivery.updated_at,
            [(a.started_at, a.finished_at, a.outcome, a.error_class) for a in log],
        )
        for delivery, log in ledger
    ] == before
    assert all(delivery.last_error is None for delivery, _ in ledger)
    assert all(a.error_message is None and a.provider_ref is None for _, log in ledger for a in log)
    assert stats_figures(client) == stats
    assert purge(now=utcnow() + MESSAGES_GONE).as_dict() == {
        "clips": 0,
        "message_alerts": 0,
        "deliveries": 0,
        "attempts": 0,
        "sms_replies": 0,
        "dry_run": False,
        "complete": True,
    }


def test_the_purge_goes_through_every_due_alert_in_batches_pausing_after_each_full_one(
    client, shop, run_worker, stub, monkeypatch
):
    for _ in range(5):
        assert client.post("/webhooks/alerts", json=alert_payload()).status_code == 201
    pauses = []
    monkeypatch.setattr(retention.time, "sleep", pauses.append)

    report = purge(now=utcnow() + MESSAGES_GONE, batch_size=2, pace=Pace(pause_seconds=0.01))

    assert (report.clips, report.message_alerts) == (5, 5)
    assert pauses == [0.01] * 4  # clips and texts: batches of 2, 2 and 1 each
    assert db.session.scalar(sa.select(sa.func.count()).where(Alert.url.is_not(None))) == 0


def test_the_staff_links_of_an_alert_past_its_retention_are_gone(client, anonymous, shop, run_worker, stub):
    payload, links = sent_alert(client, run_worker, stub)
    link = next(iter(links.values()))
    assert anonymous.get(link).status_code == 200

    purge(now=utcnow() + CLIP_GONE)

    page = anonymous.get(link)
    assert page.status_code == 410 and page.mimetype == "text/html"
    assert "past its retention" in page.get_data(as_text=True)
    assert payload["url"] not in page.get_data(as_text=True)
    subscription = {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "a", "auth": "b"}}
    for answer in (
        anonymous.get(f"{link}/state"),
        anonymous.post(f"{link}/claim"),
        anonymous.post(f"{link}/outcome", data={"outcome": "false_alarm"}),
        anonymous.post(f"{link}/push-subscription", json=subscription),
    ):
        assert answer.status_code == 410
        assert answer.json["errors"] == {
            "link": ["This alert is past its retention: its clip and its links are gone."]
        }
    alert = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == payload["alert_uuid"]))
    assert alert.claimed_by_id is None and alert.outcome is None


def test_an_alert_past_its_retention_is_not_sent_again(client, shop, run_worker, stub):
    stub.control(fail_next=2, fail_next_status=400)
    payload, _ = sent_alert(client, run_worker, stub)
    purge(now=utcnow() + CLIP_GONE)

    replay = client.post(f"/alerts/{payload['alert_uuid']}/replay")
    retry = client.post(f"/deliveries/{ledger_of(payload['alert_uuid'])[0][0].id}/retry")

    assert replay.status_code == retry.status_code == 410
    assert delivery_queue().count == 0


def test_the_scheduler_keeps_the_daily_purge_scheduled_once(app, db):
    schedule_purge()
    schedule_purge()
    [job] = [job for job in periodic_scheduler().get_jobs() if job.id == PURGER_ID]
    assert job.meta["interval"] == PURGE_INTERVAL == 86400
    assert job.func_name == PURGE_JOB and job.args == ()

    redis_queue.connection.zrem(periodic_scheduler().scheduled_jobs_key, PURGER_ID)  # a crash lost it
    StopAwareScheduler(
        queue=delivery_queue(), connection=redis_queue.connection, interval=1, sweep_interval=10
    ).enqueue_jobs()

    assert [job.id for job in periodic_scheduler().get_jobs() if job.id == PURGER_ID] == [PURGER_ID]
    assert ensure_purge() is False


def test_the_purge_job_runs_in_a_worker_and_returns_its_counts(client, shop, run_worker):
    assert client.post("/webhooks/alerts", json=alert_payload()).status_code == 201
    run_worker()
    with db.engine.begin() as connection:
        connection.execute(sa.update(Alert).values(received_at=utcnow() - CLIP_GONE))
    job = delivery_queue().enqueue(PURGE_JOB)

    run_worker()

    assert job.return_value() == {
        "clips": 1,
        "message_alerts": 0,
        "deliveries": 0,
        "attempts": 0,
        "sms_replies": 0,
        "dry_run": False,
        "complete": True,
    }


def test_the_purge_job_hands_its_engine_back_after_a_slice_and_queues_the_rest(
    app, client, shop, run_worker, monkeypatch
):
    for _ in range(3):
        assert client.post("/webhooks/alerts", json=alert_payload()).status_code == 201
    run_worker()
    with db.engine.begin() as connection:
        connection.execute(sa.update(Alert).values(received_at=utcnow() - MESSAGES_GONE))
    app.config["PURGE_SLICE_SECONDS"] = 0  # each slice: the first batch of each kind
    monkeypatch.setattr(retention, "PURGE_BATCH", 1)
    first = delivery_queue().enqueue(PURGE_JOB)

    run_worker()

    assert first.return_value()["complete"] is False
    assert db.session.scalar(sa.select(sa.func.count()).where(Alert.url.is_not(None))) == 0
    [entry] = client.get("/audit", query_string={"action": "retention.purge"}).json["items"]
    assert entry["after"] == {
        "clips": 3,
        "message_alerts": 3,
        "deliveries": 0,
        "attempts": 0,
        "sms_replies": 0,
        "dry_run": False,
        "complete": True,
    }


def test_flask_purge_counts_with_dry_run_then_removes(app, client, shop):
    assert client.post("/webhooks/alerts", json=alert_payload()).status_code == 201
    with db.engine.begin() as connection:
        connection.execute(sa.update(Alert).values(received_at=utcnow() - MESSAGES_GONE))
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output == (
        "would remove 1 clips; the ledger texts of 1 alerts (0 deliveries, 0 attempts); 0 SMS replies\n"
    )
    assert db.session.scalar(sa.select(Alert.url)) is not None

    assert client.get("/audit", query_string={"action": "retention.purge"}).json["items"] == []

    done = runner.invoke(args=["purge"])
    assert done.output == (
        "removed 1 clips; the ledger texts of 1 alerts (0 deliveries, 0 attempts); 0 SMS replies\n"
    )
    (purged,) = client.get("/audit", query_string={"action": "retention.purge"}).json["items"]
    assert purged["actor_name"] == "cli: purge"
    assert (purged["after"]["clips"], purged["after"]["message_alerts"]) == (1, 1)
    assert runner.invoke(args=["purge"]).exit_code == 0  # nothing left: no second row
    assert client.get("/audit", query_string={"action": "retention.purge"}).json["total"] == 1
    db.session.expire_all()
    assert db.session.scalar(sa.select(Alert.url)) is None


def test_the_ledger_texts_of_a_record_without_an_alert_go_after_their_retention(client, shop):
    user = make_user(shop, name="Camille")
    job = outbound.add(kind=DeliveryKind.DEVICE_NOTICE, channel="sms", user_id=user.id, now=utcnow())
    db.session.execute(
        sa.update(Delivery).where(Delivery.id == job.delivery_id).values(last_error="refused: +33612345678")
    )
    db.session.add(
        DeliveryAttempt(
            delivery_id=job.delivery_id,
            number=1,
            started_at=utcnow(),
            finished_at=utcnow(),
            outcome=AttemptOutcomeKind.PERMANENT,
            error_message="refused: +33612345678",
            provider_ref="SM123",
        )
    )
    db.session.commit()

    assert purge(now=utcnow() + timedelta(days=89)).deliveries == 0
    dry = purge(now=utcnow() + MESSAGES_GONE, dry_run=True)
    assert (dry.deliveries, dry.attempts) == (1, 1)
    report = purge(now=utcnow() + MESSAGES_GONE)

    assert (report.message_alerts, report.deliveries, report.attempts) == (0, 1, 1)
    db.session.expire_all()
    notice = db.session.get(Delivery, job.delivery_id)
    [attempt] = notice.attempt_log
    assert notice.last_error is None and notice.status is DeliveryStatus.QUEUED
    assert (attempt.error_message, attempt.provider_ref, attempt.outcome) == (
        None,
        None,
        AttemptOutcomeKind.PERMANENT,
    )
    assert purge(now=utcnow() + MESSAGES_GONE).deliveries == 0


def test_sms_replies_go_after_their_retention(client, shop):
    user = make_user(shop, name="Camille")
    for sid, days_ago in (("SMold", 91), ("SMnew", 1)):
        db.session.add(
            SmsReply(
                message_sid=sid,
                from_number="+33612345678",
                user_id=user.id,
                result="help",
                received_at=utcnow() - timedelta(days=days_ago),
            )
        )
    db.session.commit()

    assert purge(dry_run=True).sms_replies == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SmsReply)) == 2
    assert purge().sms_replies == 1

    assert db.session.scalars(sa.select(SmsReply.message_sid)).all() == ["SMnew"]
    assert purge().sms_replies == 0
