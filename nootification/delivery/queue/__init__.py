"""The one door to RQ and rq-scheduler: the delivery queue, its job ids and job hashes, pushing jobs, the
periodic jobs' schedule, and whether a job is alive. No other module imports `rq` or `rq_scheduler`.

json_jobs  the JSON job format and its allowlist of job functions (`JOB_FORMAT`)
worker     the RQ worker the engine is: take, start, close and requeue jobs in batches
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Worker
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, FailedJobRegistry, StartedJobRegistry
from rq.utils import get_call_string, utcparse
from rq.utils import now as rq_now
from rq_scheduler import Scheduler

from nootification.delivery.queue.json_jobs import JOB_FORMAT, JsonScheduler, readable
from nootification.extensions import redis_queue
from nootification.redis_connection import SCAN_BATCH

log = logging.getLogger(__name__)

EXTENSION = "nootification.queue"
SEND_JOB = "nootification.delivery.jobs.send_notification"
JOB_PREFIX = "delivery-"
# A job in one of these states will never run again: its delivery, still waiting, has lost it.
DEAD_JOB_STATES = {
    JobStatus.FINISHED.value,
    JobStatus.FAILED.value,
    JobStatus.STOPPED.value,
    JobStatus.CANCELED.value,
}
# How many jobs at the head of the queue are probed for the oldest one's age (a head whose hash is gone is
# skipped).
QUEUE_HEAD_PROBE = 10

__all__ = ["JOB_FORMAT", "JsonScheduler", "readable"]


def init_app(app: Flask) -> None:
    """Create the application's delivery queue and its rq-scheduler on its Redis connection."""
    connection = redis_queue.connection_of(app)
    queue = Queue(app.config["RQ_QUEUE_NAME"], connection=connection, **JOB_FORMAT)
    app.extensions[EXTENSION] = {
        "queue": queue,
        "scheduler": JsonScheduler(queue=queue, connection=connection),
    }


def _objects() -> dict:
    # Built again when the app's Redis connection was replaced (`redis_queue.init_app` once more).
    objects = current_app.extensions.get(EXTENSION)
    if objects is None or objects["queue"].connection is not redis_queue.connection:
        init_app(current_app)
        objects = current_app.extensions[EXTENSION]
    return objects


def delivery_queue() -> Queue:
    """The current application's delivery queue."""
    return _objects()["queue"]


def periodic_scheduler() -> JsonScheduler:
    """The current application's rq-scheduler: it runs the periodic jobs."""
    return _objects()["scheduler"]


# Job ids and the job hash.


def job_id_for(delivery_id: str, generation: int) -> str:
    """The RQ job id of one enqueue of a delivery: derived from the delivery id and its enqueue count."""
    return f"{JOB_PREFIX}{delivery_id}-{generation}"


def delivery_id_of(job_id: str) -> str | None:
    """The delivery a job id names, or None for a job that is not a delivery's."""
    if not job_id.startswith(JOB_PREFIX):
        return None
    return job_id[len(JOB_PREFIX) :].rpartition("-")[0] or None


def delivery_of(job: Job) -> str | None:
    """The delivery a job sends: its id names the delivery and its call sends that delivery; else None."""
    delivery_id = delivery_id_of(job.id)
    if delivery_id is None or not readable(job):
        return None
    sends_it = job.func_name == SEND_JOB and job.args == (delivery_id,) and not job.kwargs
    return delivery_id if sends_it else None


@dataclass(frozen=True)
class QueuedJob:
    """One enqueue of a delivery: its id and the generation that names its job."""

    delivery_id: str
    generation: int


def push_jobs(jobs: Sequence[QueuedJob]) -> None:
    """Push one RQ job per delivery in a single Redis pipeline; RedisError when Redis refuses.

    The jobs differ only in their delivery id: RQ builds the first, the others are its hash with their own
    id, call data and description, and every id goes onto the queue in one RPUSH after the hashes. Building
    each through RQ (`enqueue_many`) costs about three times as much, which counts when one alert reaches a
    thousand staff.
    """
    if not jobs:
        return
    queue = delivery_queue()
    first = queue.create_job(
        SEND_JOB,
        args=(jobs[0].delivery_id,),
        result_ttl=0,  # the outcome lives in the database; keeping it in Redis too costs writes
        status=JobStatus.QUEUED,
    )
    first.origin, first.enqueued_at = queue.name, rq_now()
    # RQ reads a missing field as an empty one: leaving the empty ones out spares encoding and storing them.
    fields = {name: value for name, value in first.to_dict().items() if value != ""}
    job_ids = [job_id_for(job.delivery_id, job.generation) for job in jobs]
    # One MULTI/EXEC: a connection lost halfway must not leave job hashes saying "queued" that no list holds
    # (the sweeper would take them for live jobs).
    with queue.connection.pipeline(transaction=True) as pipeline:
        for job, job_id in zip(jobs, job_ids, strict=True):
            call = (job.delivery_id,)
            pipeline.hset(
                Job.key_for(job_id),
                mapping={
                    **fields,
                    # RQ reads the call data compressed or not; compressing a few bytes is not worth it.
                    "data": first.serializer.dumps((SEND_JOB, None, call, {})),
                    "description": get_call_string(SEND_JOB, call, {}, max_length=75),
                },
            )
        pipeline.rpush(queue.key, *job_ids)
        pipeline.execute()


def enqueue_call(func_name: str, *args: object) -> None:
    """Queue one job calling `func_name` (one of the job functions) with `args`; RedisError when refused."""
    delivery_queue().enqueue(func_name, *args, result_ttl=0)


# The periodic jobs (rq-scheduler runs nothing else).


def schedule_repeating(job_id: str, func_name: str, interval: int) -> None:
    """Register `func_name` to run now and every `interval` s under `job_id`, replacing any earlier one."""
    schedule = periodic_scheduler()
    schedule.cancel(job_id)
    schedule.schedule(scheduled_time=rq_now(), func=func_name, interval=interval, repeat=None, id=job_id)


def is_scheduled(job_id: str) -> bool:
    """Whether rq-scheduler's schedule holds the job."""
    return redis_queue.connection.zscore(Scheduler.scheduled_jobs_key, job_id) is not None


# Liveness of jobs and of the intermediate list.


def _intermediate() -> IntermediateQueue:
    return IntermediateQueue(delivery_queue().key, connection=redis_queue.connection)


def stuck_in_intermediate(grace: datetime) -> set[str]:
    """The job ids a worker moved to the queue's intermediate list and never started, seen there since before
    `grace` (Redis failed, or the worker died, between the move and the start: a live worker starts them
    within milliseconds). The first call to see a job there marks it, with RQ's own marker."""
    intermediate = _intermediate()
    stuck = set()
    for job_id in intermediate.get_job_ids():
        intermediate.set_first_seen(job_id)
        first_seen = intermediate.get_first_seen(job_id)
        if first_seen and first_seen < grace:
            stuck.add(job_id)
    return stuck


def release(job_ids: Iterable[str]) -> None:
    """Take jobs out of the intermediate list, with their hash and marker (their deliveries have new ones)."""
    intermediate = _intermediate()
    connection = redis_queue.connection
    for job_id in job_ids:
        if connection.lrem(intermediate.key, 1, job_id):
            connection.delete(Job.key_for(job_id), intermediate.get_first_seen_key(job_id))


def lost_jobs(job_ids: Sequence[str], grace: datetime) -> set[str]:
    """Of `job_ids`, those that will never run: gone, ended, or started before `grace` by a worker that never
    claimed their delivery (it died between the two: a live worker claims within milliseconds of starting)."""
    with redis_queue.connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hmget(Job.key_for(job_id), "status", "started_at")
        answers = pipeline.execute()
    return {
        job_id
        for job_id, (state, started_at) in zip(job_ids, answers, strict=True)
        if _lost(state, started_at, grace)
    }


def _lost(state: bytes | None, started_at: bytes | None, grace: datetime) -> bool:
    if state is None or state.decode() in DEAD_JOB_STATES:
        return True
    return (
        state.decode() == JobStatus.STARTED.value
        and bool(started_at)
        and utcparse(started_at.decode()) < grace
    )


# What monitoring reads.


def job_counts() -> dict[str, int]:
    """Jobs of the delivery queue by state, counted without RQ's clean-up (a scrape changes nothing)."""
    queue = delivery_queue()
    return {
        "queued": queue.count,
        "started": StartedJobRegistry(queue=queue).get_job_count(cleanup=False),
        "deferred": DeferredJobRegistry(queue=queue).get_job_count(cleanup=False),
        "failed": FailedJobRegistry(queue=queue).get_job_count(cleanup=False),
        "scheduled": redis_queue.connection.zcard(Scheduler.scheduled_jobs_key),
    }


def oldest_job_age(now: float) -> float:
    """Seconds the job at the head of the delivery queue has waited at `now` (0 when the queue is empty)."""
    connection = redis_queue.connection
    for job_id in connection.lrange(delivery_queue().key, 0, QUEUE_HEAD_PROBE - 1):
        enqueued_at = connection.hget(Job.key_for(job_id.decode()), "enqueued_at")
        if enqueued_at:
            return max(0.0, now - utcparse(enqueued_at.decode()).timestamp())
    return 0.0


def live_workers() -> list[Worker]:
    """RQ workers of the delivery queue whose registration has not expired (WORKER_TTL + 60 s after a
    heartbeat)."""
    return Worker.all(queue=delivery_queue())


def live_schedulers(connection: Redis) -> int:
    """rq-scheduler processes whose heartbeat key lives (interval + 10 s) and that registered no death."""
    keys = list(
        connection.scan_iter(match=f"{Scheduler.redis_scheduler_namespace_prefix}*", count=SCAN_BATCH)
    )
    with connection.pipeline(transaction=False) as pipeline:
        for key in keys:
            pipeline.hexists(key, "death")
        dead = pipeline.execute()
    return sum(1 for is_dead in dead if not is_dead)
