"""Jobs are JSON naming the service's job functions: a pickled job planted in Redis (or left there by a
version that pickled) is refused unrun, recorded, and its delivery still goes out through the sweeper."""

import contextlib
import json
import logging
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
import rq
from rq import Queue, SimpleWorker
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from nootification.delivery.outbox import queue_due
from nootification.delivery.queue import SEND_JOB, delivery_queue, job_id_for, periodic_scheduler
from nootification.delivery.queue.json_jobs import JOB_FORMAT, JOB_FUNCTIONS, MOVED_JOBS, RQ_VERSION, JsonJob
from nootification.delivery.retention import PURGE_JOB, schedule_purge
from nootification.delivery.sweeper import sweep
from nootification.extensions import db, redis_queue
from nootification.models import DeliveryStatus, utcnow
from nootification.observability.metrics import JOBS_REFUSED
from nootification.periodic import SWEEP_JOB, schedule_sweeper
from tests.helpers.factories import stored_delivery
from tests.helpers.processes import drain_queue

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
    pickling = Queue(delivery_queue().name, connection=redis_queue.connection)
    pickling.enqueue(SEND_JOB, Marker(marker), job_id=job_id, result_ttl=0, meta={"m": Marker(marker)})


@pytest.fixture
def planted(tmp_path, queued_delivery) -> tuple[str, Path]:
    """The queued delivery's own job replaced by a pickled one; its job id and the marker file."""
    delivery = stored_delivery()
    job_id = job_id_for(delivery.id, delivery.enqueue_count)
    delivery_queue().remove(job_id)
    marker = tmp_path / "ran"
    plant_pickled_job(job_id, marker)
    return job_id, marker


def plain_worker() -> SimpleWorker:
    """A plain RQ worker on the delivery queue, given the service's job format."""
    # The refusal lives in the job format (delivery/queue/json_jobs), not in the engine: RQ's own worker, run
    # on the queue with that format (`rq worker` by hand, say), must refuse the same jobs. These runners are
    # about that.
    return SimpleWorker([delivery_queue()], connection=redis_queue.connection, **JOB_FORMAT)


RUNNERS = [lambda app: drain_queue(app), lambda app: plain_worker().work(burst=True)]


def assert_refused_then_sent_by_the_sweep(job_id: str, marker: Path, before: float, stub, alert_uuid: str):
    assert not marker.exists()
    assert stub.messages(alert_uuid)["count"] == 0
    assert job_id in FailedJobRegistry(queue=delivery_queue()).get_job_ids()
    assert refused_count() == before + 1
    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.QUEUED

    # The delivery's job is dead: the sweeper gives it a new (JSON) one, and it goes out once.
    assert sweep(now=utcnow() + LATER).queued == 1
    new_job_id = job_id_for(delivery.id, stored_delivery().enqueue_count)
    assert stored_call(new_job_id)[0] == SEND_JOB
    drain_queue()
    assert stub.messages(alert_uuid)["count"] == 1
    assert not marker.exists()


@pytest.mark.parametrize("run", RUNNERS, ids=["engine", "rq-worker"])
def test_a_pickled_delivery_job_is_refused_unrun_and_its_delivery_sent_later(
    app, planted, queued_delivery, stub, run, caplog
):
    job_id, marker = planted
    before = refused_count()
    with caplog.at_level(logging.ERROR, logger="nootification.delivery.queue.json_jobs"):
        run(app)
    assert f"job {job_id} refused, not run: its call is not JSON" in caplog.text
    db.session.expire_all()
    assert_refused_then_sent_by_the_sweep(job_id, marker, before, stub, queued_delivery)


def test_a_pickled_job_that_is_not_a_delivery_is_refused_by_the_engine(app, tmp_path, stub):
    marker = tmp_path / "ran"
    plant_pickled_job("not-a-delivery", marker)
    drain_queue(app)
    assert not marker.exists()
    assert "not-a-delivery" in FailedJobRegistry(queue=delivery_queue()).get_job_ids()


@pytest.mark.parametrize("run", RUNNERS, ids=["engine", "rq-worker"])
def test_a_json_job_naming_any_other_function_is_refused_unrun(app, tmp_path, run):
    marker = tmp_path / "ran"
    queue = Queue(delivery_queue().name, connection=redis_queue.connection, serializer=JSONSerializer)
    queue.enqueue("pathlib.Path.touch", str(marker), job_id="touch")
    before = refused_count()
    run(app)
    assert not marker.exists()
    assert "touch" in FailedJobRegistry(queue=delivery_queue()).get_job_ids()
    assert refused_count() == before + 1


def test_a_pickled_retry_left_in_the_schedule_is_refused_and_its_delivery_sent_later(
    app, tmp_path, queued_delivery, stub
):
    delivery_queue().empty()
    delivery = stored_delivery()
    delivery.status, delivery.next_attempt_at = DeliveryStatus.SCHEDULED, utcnow()
    delivery.enqueue_count += 1
    db.session.commit()
    job_id = job_id_for(delivery.id, delivery.enqueue_count)
    marker = tmp_path / "ran"
    # What rq-scheduler stored for a retry before the upgrade: a pickled call, due now.
    pickling = Queue(delivery_queue().name, connection=redis_queue.connection)
    job = Job.create(SEND_JOB, args=(Marker(marker),), connection=redis_queue.connection, id=job_id)
    job.origin, job.meta = pickling.name, {"m": Marker(marker)}
    job.save()
    redis_queue.connection.zadd(periodic_scheduler().scheduled_jobs_key, {job_id: 0})

    before = refused_count()
    periodic_scheduler().enqueue_jobs()  # neither runs it nor stops at it
    assert periodic_scheduler().count() == 0
    assert delivery_queue().count == 0
    assert job_id in FailedJobRegistry(queue=delivery_queue()).get_job_ids()
    assert refused_count() == before + 1
    assert not marker.exists()

    assert queue_due(db.session, utcnow() + LATER, 100) == 1  # the engine's due retries
    drain_queue()
    assert stub.messages(queued_delivery)["count"] == 1
    assert not marker.exists()


def test_every_job_the_service_queues_is_json_naming_a_job_function(app, queued_delivery):
    schedule_sweeper(60)
    schedule_purge()
    calls = {
        key.decode(): stored_call(key.decode().removeprefix("rq:job:"))
        for key in redis_queue.connection.keys("rq:job:*")
    }
    assert len(calls) == 3
    assert {call[0] for call in calls.values()} == JOB_FUNCTIONS  # the delivery's job: queued_delivery's
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
    delivery_queue().empty()
    queue = Queue(delivery_queue().name, connection=redis_queue.connection, serializer=JSONSerializer)
    job = queue.enqueue(old, *args, job_id="old-path", result_ttl=60)
    before = refused_count()
    run(app)
    assert refused_count() == before
    assert Job.fetch(
        "old-path", connection=redis_queue.connection, **{"serializer": JSONSerializer}
    ).is_finished
    assert job.id not in FailedJobRegistry(queue=delivery_queue()).get_job_ids()


def test_the_rq_internal_that_jsonjob_overrides_is_the_one_rq_reads_calls_through(app):
    # JsonJob overrides RQ's private Job._deserialize_data: another RQ may read calls another way, and the
    # allowlist would silently stop applying.
    assert rq.__version__ == RQ_VERSION
    assert "_deserialize_data" in vars(Job) and "_deserialize_data" in vars(JsonJob)
    job = JsonJob(id="probe", connection=redis_queue.connection)
    job.data = JSONSerializer.dumps(("not.a.job.function", None, [], {}))
    with pytest.raises(DeserializationError):
        job.func_name  # noqa: B018 (reading it must go through the override)


@pytest.mark.parametrize(("gone", "args"), GONE_JOBS, ids=[gone for gone, _args in GONE_JOBS])
def test_a_job_of_a_removed_function_left_in_redis_is_refused_unrun(app, db, gone, args):
    queue = Queue(delivery_queue().name, connection=redis_queue.connection, serializer=JSONSerializer)
    queue.enqueue(gone, *args, job_id="gone", result_ttl=60)
    before = refused_count()
    drain_queue(app)
    assert "gone" in FailedJobRegistry(queue=delivery_queue()).get_job_ids()
    assert refused_count() == before + 1
