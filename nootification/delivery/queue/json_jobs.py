"""RQ jobs as JSON that may call only the service's job functions: writing to Redis runs no code in a worker.

RQ pickles a job's call by default, and unpickling runs whatever the pickle says. A JSON call is plain data;
and since RQ imports and calls whatever function a call names, a job here may name only one of
`JOB_FUNCTIONS`, or the old path of one that moved (`MOVED_JOBS`). Any other job (a pickled one planted in
Redis, or one queued before JSON) is refused when read, unrun: logged, counted, and failed into RQ's
failed-job registry, where the sweeper finds a delivery's job dead and queues the delivery again.

`JsonJob` overrides RQ's private `Job._deserialize_data`, as RQ 3.0.0 has it (`RQ_VERSION`): a test checks the
version and that reading a job's call still goes through it.
"""

import logging
from typing import Any

from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq_scheduler import Scheduler

from nootification.observability.logs import job_context
from nootification.observability.metrics import JOBS_REFUSED

log = logging.getLogger(__name__)

# The RQ whose private `Job._deserialize_data` JsonJob overrides.
RQ_VERSION = "3.0.0"

# The functions a job may call; each module that queues a job names its function, and a test checks the two
# agree.
JOB_FUNCTIONS = frozenset(
    {
        "nootification.delivery.jobs.send_notification",
        "nootification.periodic.sweep_deliveries",
        "nootification.delivery.jobs.purge_expired",
    }
)

# Job functions that moved, by their old path: a job queued (or a repeating one scheduled) before an upgrade
# still names the old one, and runs the function's new home. The vendor-event and notice jobs are gone (those
# are outbound records the engine sends, their rows queued by the sweeper): a job of theirs left in Redis is
# refused, unrun, like any unknown call.
MOVED_JOBS = {
    "nootification.delivery.jobs.sweep_deliveries": "nootification.periodic.sweep_deliveries",
}


class JsonJob(Job):
    """An RQ job whose call, meta and result are JSON whatever serializer it is handed, and that refuses a
    call that is not JSON or names a function outside `JOB_FUNCTIONS`."""

    def __init__(self, id: str | None = None, connection: Any = None, serializer: Any = None):
        super().__init__(id, connection=connection, serializer=JSONSerializer)
        self._refused = False

    def perform(self) -> Any:
        """Run the job as RQ does, with its id on every log record meanwhile."""
        with job_context(self.id):
            return super().perform()

    def _deserialize_data(self) -> None:
        try:
            func_name, instance, args, kwargs = self.serializer.loads(self.data)
        except Exception as error:  # not JSON, or not a call: a serializer may raise anything
            raise self._refusal("its call is not JSON") from error
        func_name = MOVED_JOBS.get(func_name, func_name) if isinstance(func_name, str) else func_name
        if not isinstance(func_name, str) or func_name not in JOB_FUNCTIONS or instance is not None:
            raise self._refusal(f"it calls {func_name!r}")
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise self._refusal("its arguments are not a list and a mapping")
        # A tuple, as RQ's pickled calls gave: JSON has only lists.
        self._func_name, self._instance, self._args, self._kwargs = func_name, None, tuple(args), kwargs

    def _refusal(self, reason: str) -> DeserializationError:
        # RQ reads the call again to report the failure: the job is logged and counted once.
        if not self._refused:
            self._refused = True
            JOBS_REFUSED.inc()
            log.error("job %s refused, not run: %s", self.id, reason)
        return DeserializationError(f"job {self.id} refused: {reason}")


def readable(job: Job) -> bool:
    """Whether the job's call can be read (a JsonJob refuses, logs and counts one that cannot)."""
    try:
        job.func_name  # noqa: B018 (reading it deserializes the call)
    except DeserializationError:
        return False
    return True


# What RQ's queues and workers are given, so every job they build or read is a JsonJob.
JOB_FORMAT: dict[str, Any] = {"job_class": JsonJob, "serializer": JSONSerializer}


class JsonScheduler(Scheduler):
    """rq-scheduler reading and writing JsonJobs; a scheduled job it cannot read leaves the schedule for the
    failed-job registry instead of stopping the scheduler at each pass."""

    job_class = JsonJob

    def get_queue_for_job(self, job: Job) -> Queue:
        """The job's queue, always of the scheduler's queue class (a job's meta does not choose one)."""
        key = f"{self.queue_class.redis_queue_namespace_prefix}{job.origin}"
        return self.queue_class.from_queue_key(key, connection=self.connection, **JOB_FORMAT)

    def enqueue_job(self, job: Job) -> None:
        """Queue a due job as rq-scheduler does; fail one whose call cannot be read."""
        if readable(job):
            super().enqueue_job(job)
            return
        queue = self.get_queue_for_job(job)
        with self.connection.pipeline() as pipeline:
            pipeline.zrem(self.scheduled_jobs_key, job.id)
            job.set_status(JobStatus.FAILED, pipeline=pipeline)
            queue.failed_job_registry.add(job, exc_string="refused: not a JSON job call", pipeline=pipeline)
            pipeline.execute()
