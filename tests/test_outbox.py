"""The outbox and its sweeper: nothing accepted is lost, whatever Redis or a worker does."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from nootification.cli import StopAwareScheduler
from nootification.delivery import lease as leasing
from nootification.delivery import publish
from nootification.delivery.outbox import _back_to_pending, queue_due, requeue
from nootification.delivery.queue import delivery_queue, periodic_scheduler
from nootification.delivery.sweeper import sweep
from nootification.extensions import db, redis_queue
from nootification.models import Delivery, DeliveryStatus, utcnow
from nootification.periodic import SWEEPER_ID, ensure_sweeper, schedule_sweeper
from tests.helpers.factories import alert_payload, stored_deliveries, stored_delivery

LATER = timedelta(seconds=30)


def claim(delivery_id: str) -> bool:
    """Claim one delivery as a worker does, committed; whether this claim got it."""
    taken = leasing.take(db.session, [delivery_id], lease_seconds=120, now=utcnow())
    db.session.commit()
    return taken == [delivery_id]


def schedule(delivery: Delivery, *, at: datetime) -> None:
    """Put a delivery aside until `at`, as the worker does after a transient failure."""
    delivery.status = DeliveryStatus.SCHEDULED
    delivery.next_attempt_at = at
    delivery.enqueue_count += 1
    db.session.commit()


def test_alert_accepted_while_redis_is_down_is_sent_once_redis_is_back(
    app, client, queued_delivery, stub, run_worker
):
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    redis_queue.init_app(app)
    payload = alert_payload()
    response = client.post("/webhooks/alerts", json=payload)
    assert response.status_code == 201
    assert response.json["delivery_count"] == 1
    statuses = [delivery.status for delivery in stored_deliveries()]
    assert statuses == [DeliveryStatus.QUEUED, DeliveryStatus.PENDING]

    app.config["REDIS_URL"] = redis_url
    redis_queue.init_app(app)
    run_worker()
    assert stub.messages(payload["alert_uuid"])["count"] == 0

    report = sweep(now=utcnow() + LATER)
    assert report.queued == 1
    run_worker()
    assert stub.messages(payload["alert_uuid"])["count"] == 1


def test_alert_whose_api_died_before_pushing_the_jobs_is_sent_by_the_sweep(
    client, queued_delivery, stub, run_worker, monkeypatch
):
    monkeypatch.setattr(publish, "enqueue", lambda deliveries: 0)  # the process dies after the commit
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    run_worker()
    assert stub.messages(payload["alert_uuid"])["count"] == 0

    assert sweep().queued == 0  # within PENDING_GRACE the request may still be pushing
    assert sweep(now=utcnow() + LATER).queued == 1
    run_worker()
    assert stub.messages(payload["alert_uuid"])["count"] == 1


def test_fresh_pending_deliveries_are_left_to_the_request_that_made_them(client, queued_delivery):
    delivery = stored_delivery()
    delivery.status = DeliveryStatus.PENDING
    db.session.commit()
    assert sweep().queued == 0


def test_jobs_lost_by_redis_are_queued_again(client, queued_delivery, stub, run_worker):
    redis_queue.connection.flushdb()
    assert run_worker() == 0

    assert sweep(now=utcnow() + LATER).queued == 1
    assert stored_delivery().enqueue_count == 2
    run_worker()
    assert stub.messages(queued_delivery)["count"] == 1


def test_queued_deliveries_whose_job_is_still_there_are_left_alone(client, queued_delivery):
    assert sweep(now=utcnow() + LATER).queued == 0
    assert delivery_queue().count == 1


def test_delivery_claimed_by_a_worker_that_died_is_sent_after_its_lease(
    client, queued_delivery, stub, run_worker
):
    delivery_id = stored_delivery().id
    assert claim(delivery_id)  # a worker took it, then died before sending
    run_worker()
    assert stub.messages(queued_delivery)["count"] == 0
    assert stored_delivery().status is DeliveryStatus.SENDING

    assert sweep().queued == 0  # its lease still runs
    lease_end = stored_delivery().lease_expires_at
    report = sweep(now=lease_end + timedelta(seconds=1))
    assert (report.queued, report.reclaimed) == (1, 1)
    run_worker()
    assert stub.messages(queued_delivery)["count"] == 1
    assert stored_delivery().status is DeliveryStatus.SENT


def test_two_claims_of_one_delivery_give_it_to_one_worker(client, queued_delivery):
    delivery_id = stored_delivery().id
    assert [claim(delivery_id), claim(delivery_id)] == [True, False]


def test_stale_deliveries_are_expired_by_the_sweep(client, queued_delivery, stub, run_worker):
    deadline = stored_delivery().deadline_at
    report = sweep(now=deadline + timedelta(seconds=1))
    assert report.expired == 1
    assert stored_delivery().status is DeliveryStatus.EXPIRED
    run_worker()
    assert stub.messages(queued_delivery)["count"] == 0


def test_scheduled_retry_is_queued_when_due_and_only_then(client, queued_delivery, stub, run_worker):
    delivery_queue().empty()
    due = utcnow() + timedelta(minutes=5)
    schedule(stored_delivery(), at=due)
    assert list(periodic_scheduler().get_jobs()) == []  # a retry is its row, never an rq-scheduler job
    assert queue_due(db.session, utcnow(), 100) == 0
    assert run_worker() == 0

    assert queue_due(db.session, due, 100) == 1  # time passes
    assert stored_delivery().status is DeliveryStatus.QUEUED
    assert run_worker() == 1
    assert stub.messages(queued_delivery)["count"] == 1


def test_a_due_retry_is_queued_once_however_many_engines_look(client, queued_delivery, stub, run_worker):
    delivery_queue().empty()
    schedule(stored_delivery(), at=utcnow())
    later = utcnow() + timedelta(seconds=1)
    assert queue_due(db.session, later, 100) == 1
    assert queue_due(db.session, later, 100) == 0  # the second engine finds it no longer scheduled
    assert delivery_queue().count == 1
    run_worker()
    assert stub.messages(queued_delivery)["count"] == 1


def test_a_due_retry_that_redis_refuses_goes_back_to_pending_for_the_sweep(
    app, client, queued_delivery, stub, run_worker
):
    delivery_queue().empty()
    schedule(stored_delivery(), at=utcnow())
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    redis_queue.init_app(app)

    try:
        assert queue_due(db.session, utcnow() + timedelta(seconds=1), 100) == 0
    finally:
        app.config["REDIS_URL"] = redis_url
        redis_queue.init_app(app)

    assert stored_delivery().status is DeliveryStatus.PENDING
    assert sweep(now=utcnow() + LATER).queued == 1
    run_worker()
    assert stub.messages(queued_delivery)["count"] == 1


def test_a_scheduled_retry_is_no_business_of_the_sweep(client, queued_delivery):
    delivery_queue().empty()
    schedule(stored_delivery(), at=utcnow())

    assert sweep(now=utcnow() + LATER).queued == 0
    assert stored_delivery().status is DeliveryStatus.SCHEDULED


def test_the_scheduler_puts_back_a_periodic_sweep_that_redis_lost(app, db):
    schedule_sweeper(10)
    redis_queue.connection.zrem(periodic_scheduler().scheduled_jobs_key, SWEEPER_ID)  # a crash lost it
    scheduler = StopAwareScheduler(
        queue=delivery_queue(), connection=redis_queue.connection, interval=1, sweep_interval=10
    )

    scheduler.enqueue_jobs()

    [job] = [job for job in periodic_scheduler().get_jobs() if job.id == SWEEPER_ID]
    assert job.meta["interval"] == 10
    assert ensure_sweeper(10) is False  # there now: left as it is


def test_sweeper_is_registered_once_however_often_the_scheduler_starts(app, db):
    schedule_sweeper(10)
    schedule_sweeper(10)
    jobs = [job for job in periodic_scheduler().get_jobs() if job.id == SWEEPER_ID]
    assert len(jobs) == 1
    assert jobs[0].meta["interval"] == 10


def test_deliveries_whose_push_failed_stay_queued_for_the_sweep_when_the_database_refuses_too(
    client, queued_delivery
):
    delivery = stored_delivery()
    db.session.rollback()
    sqlite = db.engine.dialect.name == "sqlite"
    db.session.execute(sa.text("PRAGMA query_only=ON" if sqlite else "SET TRANSACTION READ ONLY"))
    try:
        _back_to_pending([delivery.id])  # the commit is refused; nothing is raised to the request
    finally:
        if sqlite:
            db.session.execute(sa.text("PRAGMA query_only=OFF"))
        db.session.rollback()
    assert stored_delivery().status is DeliveryStatus.QUEUED
    redis_queue.connection.flushdb()  # its job is gone: the sweeper's lost-job check takes it
    assert sweep(now=utcnow() + LATER).queued == 1


@pytest.mark.parametrize(("started_ago", "requeued"), [(timedelta(minutes=5), 1), (timedelta(0), 0)])
def test_a_job_started_by_a_worker_that_died_before_claiming_is_queued_again(
    client, queued_delivery, stub, run_worker, started_ago, requeued
):
    delivery = stored_delivery()
    job_key = f"rq:job:delivery-{delivery.id}-{delivery.enqueue_count}"
    started_at = (utcnow() + LATER - started_ago).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # A worker took the job and marked it started, then died before its claim: the delivery is still queued.
    redis_queue.connection.lrem(delivery_queue().key, 1, job_key.removeprefix("rq:job:"))
    redis_queue.connection.hset(job_key, mapping={"status": "started", "started_at": started_at})

    assert sweep(now=utcnow() + LATER).queued == requeued
    run_worker()
    assert stub.messages(queued_delivery)["count"] == requeued


def take_without_starting() -> str:
    """Move the next job to the intermediate list, as a worker does just before Redis fails it."""
    queue = delivery_queue()
    return redis_queue.connection.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT").decode()


def test_a_job_taken_but_never_started_is_queued_again_once_seen_stuck(
    client, queued_delivery, stub, run_worker
):
    job_id = take_without_starting()

    assert sweep(now=utcnow() + LATER).queued == 1
    run_worker()
    assert stub.messages(queued_delivery)["count"] == 1
    assert redis_queue.connection.llen(delivery_queue().intermediate_queue_key) == 0
    assert not redis_queue.connection.exists(f"rq:job:{job_id}")


def test_a_job_just_taken_is_left_to_its_worker_until_it_stays_stuck(client, queued_delivery):
    delivery = stored_delivery()
    delivery.queued_at = utcnow() - timedelta(minutes=1)  # queued long ago, taken only now (a backlog)
    db.session.commit()
    job_id = take_without_starting()

    assert sweep().queued == 0
    assert redis_queue.connection.lrange(delivery_queue().intermediate_queue_key, 0, -1) == [job_id.encode()]
    assert sweep(now=utcnow() + LATER).queued == 1


def test_a_lease_taken_back_leaves_alone_an_outcome_written_since_it_was_read(client, queued_delivery):
    delivery_id = stored_delivery().id
    assert claim(delivery_id)  # a worker took it; its lease runs out while its outcome waits for the database
    abandoned = stored_delivery()  # what the sweeper reads
    # The worker's outcome lands between the sweeper's read and its write.
    db.session.execute(
        sa.update(Delivery.__table__)
        .where(Delivery.__table__.c.id == delivery_id)
        .values(status=DeliveryStatus.SENT, lease_expires_at=None)
    )
    db.session.commit()
    delivery_queue().empty()

    assert requeue([abandoned]) == 0

    assert stored_delivery().status is DeliveryStatus.SENT
    assert delivery_queue().count == 0
