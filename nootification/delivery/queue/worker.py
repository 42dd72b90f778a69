"""The RQ worker the delivery engine is: it registers, heartbeats and dies as RQ's workers do (`rq info`
shows it), and takes, starts, closes and requeues jobs in batches of one round trip each.

A delivery's job costs few Redis commands: moved to the intermediate list (LMOVE, as many as the LLEN
before them says the queue holds), read (HGETALL), marked started (HSET) and taken out of the intermediate
list (LREM) in the start's transaction, then deleted with the rest of its batch (one DEL). The started
registry gets the batch in one ZADD and loses it in one ZREM. What the sweeper reads to tell a lost job (the
job hash's status and `started_at`, the intermediate list) is all kept; RQ's per-job execution records are
not written for them. Other jobs (the periodic sweep) run as RQ runs them.
"""

import logging
import uuid
from collections.abc import Sequence

from redis.client import Pipeline
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.utils import current_timestamp, utcformat
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from nootification.delivery.queue import delivery_of
from nootification.delivery.queue.json_jobs import JOB_FORMAT

log = logging.getLogger(__name__)


class QueueWorker(Worker):
    """An RQ worker that handles the delivery queue's jobs in batches; `started_ttl` bounds how long a
    started delivery's job stays in the started registry if this process dies (its lease and a margin)."""

    def __init__(self, queues: Sequence[Queue], *, started_ttl: int, **kwargs):
        super().__init__(queues, **JOB_FORMAT, **kwargs)
        self.started_ttl = started_ttl
        # The started registry's entries are `job_id:execution_id`; one id serves this process's jobs.
        self._execution_id = uuid.uuid4().hex

    @property
    def queue(self) -> Queue:
        """The one queue this worker consumes."""
        return self.queues[0]

    def take(self, count: int, *, block: bool, wait: float) -> list[str]:
        """Move up to `count` job ids to the queue's intermediate list (RQ's way of not losing them); with
        `block`, wait up to `wait` s for one when there is none."""
        queue = self.queue
        # As many moves as the queue holds: a move that finds nothing costs a command and a batch taken
        # short costs a batch's SQL.
        tries = min(count, self.connection.llen(queue.key))
        taken: list[str] = []
        if tries:
            with self.connection.pipeline(transaction=False) as pipeline:
                for _ in range(tries):
                    pipeline.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
                taken = [job_id.decode() for job_id in pipeline.execute() if job_id is not None]
        if not taken and block:
            job_id = self.connection.blmove(queue.key, queue.intermediate_queue_key, wait, "LEFT", "RIGHT")
            taken = [job_id.decode()] if job_id is not None else []
        return taken

    def start(self, job_ids: list[str]) -> dict[str, str]:
        """Mark the taken jobs started and out of the intermediate list, in one transaction; run the jobs that
        are not deliveries' as RQ runs them; the delivery ids of the others, with their job ids."""
        queue = self.queue
        fetched = self.job_class.fetch_many(job_ids, connection=self.connection, serializer=self.serializer)
        jobs = [job for job in fetched if job is not None]
        deliveries = {}
        others: list[tuple[Job, Execution]] = []
        started_at = utcformat(rq_now())
        with self.connection.pipeline() as pipeline:
            for job in jobs:
                delivery_id = delivery_of(job)
                if delivery_id:
                    deliveries[delivery_id] = job.id
                    pipeline.hset(
                        job.key,
                        mapping={
                            "status": JobStatus.STARTED.value,
                            "started_at": started_at,
                            "worker_name": self.name,
                        },
                    )
                else:
                    # A delivery's job whose call cannot be read runs here too: RQ fails it unrun, and the
                    # sweeper queues its delivery again.
                    execution = Execution.create(
                        job, self.get_heartbeat_ttl(job), pipeline=pipeline, worker_name=self.name
                    )
                    job.prepare_for_execution(self.name, pipeline=pipeline)
                    pipeline.persist(job.key)
                    others.append((job, execution))
            if deliveries:
                expires = current_timestamp() + self.started_ttl
                pipeline.zadd(
                    queue.started_job_registry.key,
                    {self._entry(job_id): expires for job_id in deliveries.values()},
                )
            for job_id in job_ids:
                pipeline.lrem(queue.intermediate_queue_key, 1, job_id)
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            pipeline.execute()
        for job, execution in others:
            self.perform_job(job, queue, execution)
        return deliveries

    def close(self, job_ids: list[str]) -> None:
        """RQ's bookkeeping of finished delivery jobs, in one round trip: their results are not kept."""
        if not job_ids:
            return
        with self.connection.pipeline() as pipeline:
            pipeline.zrem(self.queue.started_job_registry.key, *[self._entry(job_id) for job_id in job_ids])
            pipeline.delete(*[Job.key_for(job_id) for job_id in job_ids])
            pipeline.hincrby(self.key, "successful_job_count", len(job_ids))
            pipeline.execute()

    def requeue(self, job_ids: list[str]) -> None:
        """Put started delivery jobs back at the head of the queue, as if never taken."""
        if not job_ids:
            return
        queue = self.queue
        with self.connection.pipeline() as pipeline:
            pipeline.zrem(queue.started_job_registry.key, *[self._entry(job_id) for job_id in job_ids])
            for job_id in job_ids:
                pipeline.hset(Job.key_for(job_id), "status", JobStatus.QUEUED.value)
            pipeline.lpush(queue.key, *reversed(job_ids))
            pipeline.execute()

    def maintain(self, heartbeat_every: float) -> None:
        """Heartbeat when the last one is `heartbeat_every` s old, and run RQ's maintenance when due."""
        if not self.last_heartbeat or (rq_now() - self.last_heartbeat).total_seconds() >= heartbeat_every:
            self.heartbeat()
        if self.should_run_maintenance_tasks:
            self.run_maintenance_tasks()

    def idle(self) -> None:
        """Record that nothing is in flight."""
        self.set_state(WorkerStatus.IDLE)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """Record the worker's state, unless it is already the state this process last recorded."""
        if state != self.get_state():
            super().set_state(state, pipeline)

    def has_jobs(self) -> bool:
        """Whether the queue holds jobs."""
        return self.queue.count > 0

    def _entry(self, job_id: str) -> str:
        return f"{job_id}:{self._execution_id}"
