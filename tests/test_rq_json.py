"""Jobs are JSON naming the service's job functions: a pickled job planted in Redis (or left there by a
version that pickled) is refused unrun, recorded, and its delivery still goes out through the sweeper."""

import contextlib
import json
import logging
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from nootification.delivery.outbox import SEND_JOB, ScheduledJob, job_id_for, schedule_jobs
from nootification.delivery.retention import PURGE_JOB, schedule_purge
from nootification.delivery.sweeper import sweep
from nootification.extensions import db, redis_queue
from nootification.models import DeliveryStatus, utcnow
from nootification.observability.metrics import JOBS_REFUSED
from nootification.periodic import SWEEP_JOB, schedule_sweeper
from nootification.rq_json import JOB_FORMAT, JOB_FUNCTIONS, MOVED_JOBS
from tests.helpers.factories import stored_delivery
from tests.helpers.processes import engine_for

LATER = timedelta(minutes=5)


class Marker:
    """Unpickled, it creates its file: the proof that a pickle ran."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def refused_count() -> float:
    [family] = JOBS_REFUSED.collect()
    return next(sample.value for sample in family.samples if sample.name.endswith("_total"))


def stored_call(job_id: str) -> list:
    """A job's call as Redis holds it, read as JSON (it fails on anything else)."""
    data = redis_queue.connection.hget(Job.key_for(job_id), "data")
    with contextlib.suppress(zlib.error):  # RQ compresses what it saves; push_jobs does not
        data = zlib.decompress(data)
    return json.loads(data)


def plant_pickled_job(job_id: str, marker: Path) -> None:
    """A job under `job_id`, on the delivery queue, pickled by RQ's default serializer (as before JSON, or
    as someone who can write to Redis would plant it): its call and its meta run code when unpickled."""
    pickling = Queue(redis_queue.queue.name, connection=redis_queue.connection)
    pickling.enqueue(SEND_JOB, Marker(marker), job_id=job_id, result_ttl=0, meta={"m": Marker(marker)})


@pytest.fixture
def planted(tmp_path, queued_delivery) -> tuple[str, Path]:
    """The queued delivery's own job replaced by a pickled one; its job id and the marker file."""
    delivery = stored_delivery()
    job_id = job_id_for(delivery.id, delivery.enqueue_count)
    redis_queue.queue.remove(job_id)
    marker = tmp_path / "ran"
    plant_pickled_job(job_id, marker)
    return job_id, marker


def plain_worker() -> SimpleWorker:
    """A plain RQ worker on the delivery queue, given the service's job format."""
    return SimpleWorker([redis_queue.queue], connection=redis_queue.connection, **JOB_FORMAT)


RUNNERS = [lambda app: engine_for(app).work(burst=True), lambda app: plain_worker().work(burst=True)]


def assert_refused_then_sent_by_the_sweep(job_id: str, marker: Path, before: float, stub, alert_uuid: str):
    assert not marker.exists()
    assert stub.messages(alert_uuid)["count"] == 0
    assert job_id in FailedJobRegistry(queue=redis_queue.queue).get_job_ids()
    assert refused_count() == before + 1
    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.QUEUED

    # The delivery's job is dead: the sweeper gives it a new (JSON) one, and it goes out once.
    assert sweep(now=utcnow() + LATER).queued == 1
    new_job_id = job_id_for(delivery.id, stored_delivery().enqueue_count)
    assert stored_call(new_job_id)[0] == SEND_JOB
    plain_worker().work(burst=True)
    assert stub.messages(alert_uuid)["count"] == 1
    assert not marker.exists()


@pytest.mark.parametrize("run", RUNNERS, ids=["engine", "rq-worker"])
def test_a_pickled_delivery_job_is_refused_unrun_and_its_delivery_sent_later(
    app, planted, queued_delivery, stub, run, caplog
):
    job_id, marker = planted
    before = refused_count()
    with caplog.at_level(logging.ERROR, logger="nootification.rq_json"):
        run(app)
    assert f"job {job_id} refused, not run: its call is not JSON" in caplog.text
    db.session.expire_all()
    assert_refused_then_sent_by_the_sweep(job_id, marker, before, stub, queued_delivery)


def test_a_pickled_job_that_is_not_a_delivery_is_refused_by_the_engine(app, tmp_path, stub):
    marker = tmp_path / "ran"
    plant_pickled_job("not-a-delivery", marker)
    engine_for(app).work(burst=True)
    assert not marker.exists()
    assert "not-a-delivery" in FailedJobRegistry(queue=redis_queue.queue).get_job_ids()


@pytest.mark.parametrize("run", RUNNERS, ids=["engine", "rq-worker"])
def test_a_json_job_naming_any_other_function_is_refused_unrun(app, tmp_path, run):
    marker = tmp_path / "ran"
    queue = Queue(redis_queue.queue.name, connection=redis_queue.connection, serializer=JSONSerializer)
    queue.enqueue("pathlib.Path.touch", str(marker), job_id="touch")
    before = refused_count()
    run(app)
    assert not marker.exists()
    assert "touch" in FailedJobRegistry(queue=redis_queue.queue).get_job_ids()
    assert refused_count() == before + 1


def test_a_pickled_retry_left_in_the_schedule_is_refused_and_its_delivery_sent_later(
    app, tmp_path, queued_delivery, stub
):
    redis_queue.queue.empty()
    delivery = stored_delivery()
    delivery.status, delivery.next_attempt_at = DeliveryStatus.SCHEDULED, utcnow()
    delivery.enqueue_count += 1
    db.session.commit()
    job_id = job_id_for(delivery.id, delivery.enqueue_count)
    marker = tmp_path / "ran"
    # What rq-scheduler stored for a retry before the upgrade: a pickled call, due now.
    pickling = Queue(redis_queue.queue.name, connection=redis_queue.connection)
    job = Job.create(SEND_JOB, args=(Marker(marker),), connection=redis_queue.connection, id=job_id)
    job.origin, job.meta = pickling.name, {"m": Marker(marker)}
    job.save()
    redis_queue.connection.zadd(redis_queue.scheduler.scheduled_jobs_key, {job_id: 0})

    before = refused_count()
    redis_queue.scheduler.enqueue_jobs()  # neither runs it nor stops at it
    assert redis_queue.scheduler.count() == 0
    assert redis_queue.queue.count == 0
    assert job_id in FailedJobRegistry(queue=redis_queue.queue).get_job_ids()
    assert refused_count() == before + 1
    assert not marker.exists()

    assert sweep(now=utcnow() + LATER).queued == 1
    plain_worker().work(burst=True)
    assert stub.messages(queued_delivery)["count"] == 1
    assert not marker.exists()


def test_every_job_the_service_queues_is_json_naming_a_job_function(app, queued_delivery):
    delivery = stored_delivery()
    schedule_jobs([ScheduledJob(delivery.id, delivery.enqueue_count + 1, utcnow() + LATER)])
    schedule_sweeper(60)
    schedule_purge()
    calls = {
        key.decode(): stored_call(key.decode().removeprefix("rq:job:"))
        for key in redis_queue.connection.keys("rq:job:*")
    }
    assert len(calls) == 4
    assert {call[0] for call in calls.values()} == JOB_FUNCTIONS
    for _function, instance, args, kwargs in calls.values():
        assert instance is None and kwargs == {}
        assert all(isinstance(arg, str | int) for arg in args)


def test_the_job_functions_are_those_the_code_queues():
    queued = {
        SEND_JOB,
        SWEEP_JOB,
        PURGE_JOB,
    }
    assert queued == JOB_FUNCTIONS


# A job queued before an upgrade that moved its function, with arguments that find nothing to do.
OLD_PATH_JOBS = [
    ("nootification.delivery.jobs.sweep_deliveries", ()),
]

# Jobs of functions that are gone (vendor events and notices are outbound records now), left in Redis by an
# upgrade: refused unrun, whatever they name.
GONE_JOBS = [
    ("nootification.staff.vendor_events.send_event", ("an-event-id",)),
    ("nootification.delivery.outcome_events.send_event", ("an-event-id",)),
    ("nootification.staff.claim_notices.tell_others", (1,)),
    ("nootification.delivery.claim_notices.tell_others", (1,)),
    ("nootification.staff.device_notices.tell_of_new_device", (1,)),
]


def test_every_moved_job_function_is_one_of_the_job_functions():
    assert set(MOVED_JOBS) == {old for old, _args in OLD_PATH_JOBS}
    assert set(MOVED_JOBS.values()) <= JOB_FUNCTIONS


@pytest.mark.parametrize(("old", "args"), OLD_PATH_JOBS, ids=[old for old, _args in OLD_PATH_JOBS])
@pytest.mark.parametrize("run", RUNNERS, ids=["engine", "rq-worker"])
def test_a_job_queued_under_a_moved_functions_old_path_still_runs(app, db, old, args, run):
    redis_queue.queue.empty()
    queue = Queue(redis_queue.queue.name, connection=redis_queue.connection, serializer=JSONSerializer)
    job = queue.enqueue(old, *args, job_id="old-path", result_ttl=60)
    before = refused_count()
    run(app)
    assert refused_count() == before
    assert Job.fetch(
        "old-path", connection=redis_queue.connection, **{"serializer": JSONSerializer}
    ).is_finished
    assert job.id not in FailedJobRegistry(queue=redis_queue.queue).get_job_ids()


@pytest.mark.parametrize(("gone", "args"), GONE_JOBS, ids=[gone for gone, _args in GONE_JOBS])
def test_a_job_of_a_removed_function_left_in_redis_is_refused_unrun(app, db, gone, args):
    queue = Queue(redis_queue.queue.name, connection=redis_queue.connection, serializer=JSONSerializer)
    queue.enqueue(gone, *args, job_id="gone", result_ttl=60)
    before = refused_count()
    engine_for(app).work(burst=True)
    assert "gone" in FailedJobRegistry(queue=redis_queue.queue).get_job_ids()
    assert refused_count() == before + 1
