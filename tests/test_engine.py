"""The delivery engine as `flask worker` runs it: many sends in flight, a stop that hands back, a kill that
loses nothing, and RQ's registries telling the truth throughout. Real processes, Redis and stub."""

import signal
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq.registry import FailedJobRegistry, StartedJobRegistry

from nootification.delivery.attempt import SlotResult
from nootification.delivery.queue import delivery_queue, live_workers, periodic_scheduler
from nootification.delivery.slots import Slots
from nootification.delivery.sweeper import sweep
from nootification.extensions import db, redis_queue
from nootification.models import AttemptOutcomeKind, Delivery, DeliveryStatus, Level, utcnow
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.processes import wait_until, worker_process

STAFF = 12


@pytest.fixture
def fan_out(client) -> str:
    """One alert to a shop of STAFF members of staff, on push: STAFF queued deliveries; the alert's uuid."""
    shop = make_location()
    for _ in range(STAFF):
        make_user(shop, level=Level.STANDARD)
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).json["delivery_count"] == STAFF
    return payload["alert_uuid"]


def statuses() -> dict[DeliveryStatus, int]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status))
    return dict(rows.all())


def ledgers() -> list[list[AttemptOutcomeKind]]:
    db.session.expire_all()
    return sorted(
        [attempt.outcome for attempt in d.attempt_log] for d in db.session.scalars(sa.select(Delivery))
    )


def engine(app, concurrency: int, *arguments: str, stop_timeout: float = 20.0):
    return worker_process(
        app,
        *arguments,
        env={"WORKER_CONCURRENCY": str(concurrency), "WORKER_STOP_TIMEOUT": str(stop_timeout)},
    )


def finish(process, timeout: float = 60) -> None:
    _, errors = process.communicate(timeout=timeout)
    assert process.returncode == 0, errors.decode()[-3000:]


def test_the_engine_keeps_its_concurrency_in_flight_and_sends_each_once(app, fan_out, stub):
    stub.control(latency=0.5)
    finish(engine(app, 4, "--burst"))

    counters = stub.control()["counters"]
    assert counters["most_open"] == 4
    assert (counters["count"], counters["duplicates"]) == (STAFF, 0)
    assert statuses() == {DeliveryStatus.SENT: STAFF}
    assert ledgers() == [[AttemptOutcomeKind.SENT]] * STAFF
    assert StartedJobRegistry(queue=delivery_queue()).count == 0
    assert FailedJobRegistry(queue=delivery_queue()).count == 0
    assert delivery_queue().count == 0
    # A closed job leaves nothing behind: its hash, its executions and their registry are gone.
    assert redis_queue.connection.keys("rq:job:*") == []
    assert redis_queue.connection.keys("rq:execution*") == []


def test_a_hanging_provider_holds_one_slot_not_the_worker(app, fan_out, stub):
    stub.control(hang_next=1, hang_seconds=4, latency=0.05)
    worker = engine(app, 3)
    try:
        # Every other delivery arrives while the one request still hangs.
        wait_until(lambda: stub.control()["counters"]["count"] == STAFF - 1, timeout=30)
        assert stub.control()["counters"]["open"] == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        finish(worker)


def test_a_stop_lets_the_sends_in_flight_end_and_leaves_the_rest_queued(app, fan_out, stub):
    stub.control(latency=1.0)
    worker = engine(app, 4)
    wait_until(lambda: stub.control()["counters"]["open"] == 4, timeout=30)
    worker.send_signal(signal.SIGTERM)
    finish(worker)

    assert statuses() == {DeliveryStatus.SENT: 4, DeliveryStatus.QUEUED: STAFF - 4}
    assert delivery_queue().count == STAFF - 4  # never taken: still waiting on the queue
    assert StartedJobRegistry(queue=delivery_queue()).count == 0
    assert live_workers() == []


def test_a_stop_past_its_bound_hands_the_sends_back_and_they_go_out_again(app, fan_out, stub):
    stub.control(latency=3.0)
    worker = engine(app, 4, stop_timeout=0.5)
    wait_until(lambda: stub.control()["counters"]["open"] == 4, timeout=30)
    worker.send_signal(signal.SIGTERM)
    finish(worker)

    assert statuses() == {DeliveryStatus.QUEUED: STAFF}
    assert delivery_queue().count == STAFF
    assert StartedJobRegistry(queue=delivery_queue()).count == 0
    assert ledgers().count([AttemptOutcomeKind.UNKNOWN]) == 4

    stub.control(latency=0.0)
    finish(engine(app, 4, "--burst"))
    assert statuses() == {DeliveryStatus.SENT: STAFF}
    assert stub.control()["counters"]["count"] == STAFF  # the provider's key absorbs a repeat
    assert ledgers().count([AttemptOutcomeKind.UNKNOWN, AttemptOutcomeKind.SENT]) == 4


def test_a_killed_engine_loses_nothing_and_its_sends_go_out_once_more_through_their_leases(
    app, fan_out, stub
):
    stub.control(latency=2.0)
    worker = engine(app, 4)
    wait_until(lambda: stub.control()["counters"]["open"] == 4, timeout=30)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert statuses() == {DeliveryStatus.SENDING: 4, DeliveryStatus.QUEUED: STAFF - 4}
    # RQ's registry still shows the dead worker's jobs until their executions expire.
    assert StartedJobRegistry(queue=delivery_queue()).count == 4

    db.session.expire_all()
    lease_end = max(d.lease_expires_at for d in db.session.scalars(sa.select(Delivery)) if d.lease_expires_at)
    assert sweep(now=lease_end + timedelta(seconds=1)).reclaimed == 4
    time.sleep(2.5)  # the killed sends reach the stub anyway: the provider has them once
    stub.control(latency=0.0)
    finish(engine(app, 4, "--burst"))

    assert statuses() == {DeliveryStatus.SENT: STAFF}
    assert stub.control()["counters"]["count"] == STAFF
    assert ledgers().count([AttemptOutcomeKind.UNKNOWN, AttemptOutcomeKind.SENT]) == 4


def test_a_job_that_fails_is_in_rqs_failed_registry(app, db, stub):
    job = delivery_queue().enqueue("nootification.no_such_module.job")
    finish(engine(app, 2, "--burst"))
    assert job.id in FailedJobRegistry(queue=delivery_queue()).get_job_ids()
    assert StartedJobRegistry(queue=delivery_queue()).count == 0


def test_a_retry_is_a_scheduled_row_that_the_engine_itself_sends_when_due(app, client, stub):
    # No rq-scheduler runs here: the engine's own loop queues the retry when its time comes.
    make_user(make_location(), level=Level.STANDARD)
    stub.control(fail_next=3, fail_next_status=500)  # every quick attempt of the first round fails
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).json["delivery_count"] == 1
    worker = worker_process(app, env={"RETRY_BACKOFF_BASE": "0.5", "RETRY_BACKOFF_CAP": "1"})
    try:
        wait_until(lambda: stub.messages(payload["alert_uuid"])["count"] == 1, timeout=30)
        wait_until(lambda: statuses() == {DeliveryStatus.SENT: 1})
        assert periodic_scheduler().count() == 0
        assert stub.control()["counters"]["duplicates"] == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        finish(worker)


def test_the_sending_slots_end_when_stopped(app):
    before = set(threading.enumerate())
    slots = Slots(app, 3, lambda item: SlotResult(), utcnow)
    threads = set(threading.enumerate()) - before
    assert len(threads) == 3
    slots.stop()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
