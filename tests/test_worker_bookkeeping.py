"""The delivery engine keeps RQ's bookkeeping light, and still keeps its registration alive."""

import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job

from bench.rq_cost import measure
from nootification.delivery import engine as engine_module
from nootification.delivery import writer as writer_module
from nootification.delivery.queue import delivery_queue, live_workers
from nootification.delivery.writer import LedgerWriter
from nootification.extensions import db, redis_queue
from nootification.models import Alert, Delivery, DeliveryStatus
from tests.helpers.processes import engine_for, wait_until


@pytest.fixture
def worker(app):
    worker = engine_for(app)
    worker.register_birth()
    yield worker
    worker.register_death()


def stored_heartbeat(worker) -> bytes:
    return redis_queue.connection.hget(worker.key, "last_heartbeat")


def test_a_heartbeat_within_a_second_of_the_last_is_left_out(worker):
    worker.maintain(1.0)
    first = stored_heartbeat(worker)
    worker.maintain(1.0)
    assert stored_heartbeat(worker) == first


def test_a_heartbeat_a_second_later_goes_out_and_renews_the_registration(worker):
    worker.maintain(1.0)
    redis_queue.connection.expire(worker.key, 5)
    worker.last_heartbeat -= timedelta(seconds=1)
    worker.maintain(1.0)
    assert redis_queue.connection.ttl(worker.key) > 5
    assert [alive.name for alive in live_workers()] == [worker.name]


def test_the_state_is_written_only_when_it_changes(worker):
    worker.set_state("idle")
    redis_queue.connection.hset(worker.key, "state", "tampered")
    worker.set_state("idle")
    assert redis_queue.connection.hget(worker.key, "state") == b"tampered"
    worker.set_state("busy")
    assert redis_queue.connection.hget(worker.key, "state") == b"busy"


def test_rq_cost_runs_every_job_and_counts_what_each_costs(app):
    figures = measure(redis_queue.connection, 50)
    assert redis_queue.connection.llen("rq:queue:rq-cost") == 0
    assert 10 < figures["Redis commands per job"] < 100
    assert figures["jobs/s"] > 0 and figures["worker CPU per job (ms)"] > 0


def test_the_sweeper_job_runs_without_a_line_about_its_result(app, db, caplog):
    # rq-scheduler keeps a periodic job's result for ever; RQ's worker would say so on every run.
    job = delivery_queue().enqueue("nootification.periodic.sweep_deliveries", result_ttl=-1)
    worker = engine_for(app)
    with caplog.at_level("INFO"):
        worker.work(burst=True)
    assert job.get_status(refresh=True) == "finished"
    assert not [record for record in caplog.records if "expire" in record.getMessage()]


def test_jobs_taken_when_redis_failed_are_started_once_it_answers(app, queued_delivery, stub, monkeypatch):
    fetch_many = Job.fetch_many
    failures = iter([RedisConnectionError("Redis restarted")])

    def fails_once(*args, **kwargs):
        for error in failures:
            raise error
        return fetch_many(*args, **kwargs)

    monkeypatch.setattr(Job, "fetch_many", fails_once)
    engine_for(app).work(burst=True)

    assert stub.messages(queued_delivery)["count"] == 1
    assert redis_queue.connection.llen(delivery_queue().intermediate_queue_key) == 0


def test_a_finished_send_is_recorded_while_redis_stalls(app, queued_delivery, stub, monkeypatch):
    # A stalled Redis holds the engine's loop in its commands; a finished send's outcome must still reach the
    # database within its lease, or the sweeper hands the delivery to another worker.
    stub.control(latency=0.5)
    engine = engine_for(app)
    maintain = engine.maintain
    stalled = threading.Event()
    seen_while_stalled: list[DeliveryStatus] = []

    def maintain_unless_stalled(heartbeat_every: float) -> None:
        while stalled.is_set():  # a Redis command waiting on a stopped server
            time.sleep(0.05)
        maintain(heartbeat_every)

    def stall_while_the_send_is_out() -> None:
        with app.app_context():
            wait_until(lambda: stub.control()["counters"]["open"] == 1, timeout=10)
            stalled.set()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and status_of(queued_delivery) != DeliveryStatus.SENT:
                time.sleep(0.05)
            seen_while_stalled.append(status_of(queued_delivery))
            stalled.clear()

    monkeypatch.setattr(engine, "maintain", maintain_unless_stalled)
    monkeypatch.setattr(engine_module, "TROUBLE_PAUSE", 0.05)
    staller = threading.Thread(target=stall_while_the_send_is_out)
    staller.start()
    engine.work(burst=True)
    staller.join(timeout=30)

    assert seen_while_stalled == [DeliveryStatus.SENT]
    assert stub.messages(queued_delivery)["count"] == 1


def status_of(alert_uuid: str) -> DeliveryStatus:
    """The status of the alert's one delivery, read afresh."""
    db.session.expire_all()
    return db.session.query(Delivery).join(Delivery.alert).filter(Alert.alert_uuid == alert_uuid).one().status


class OneOutcome:
    """Slots that report one finished delivery, once."""

    def __init__(self):
        self.done = [SimpleNamespace(item="ready", result="result")]

    def collect(self, wait: float) -> list:
        done, self.done = self.done, []
        if not done:
            time.sleep(wait)
        return done


def test_the_writer_survives_an_unexpected_error_and_records_the_outcome_later(app, monkeypatch):
    calls = []

    def finish_failing_once(session, results, **kwargs):
        calls.append(results)
        if len(calls) == 1:
            raise RuntimeError("a bug")

    monkeypatch.setattr(writer_module.batch, "finish", finish_failing_once)
    monkeypatch.setattr(writer_module, "TROUBLE_PAUSE", 0.05)
    written = threading.Event()
    writer = LedgerWriter(app, OneOutcome(), app.config, written=lambda done: written.set())
    writer.start()
    try:
        assert written.wait(5)
    finally:
        writer.stop(timeout=5)
    assert calls == [[("ready", "result")]] * 2
