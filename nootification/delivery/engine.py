"""The delivery engine behind `flask worker`: RQ's queue consumed in batches, many sends in flight at once.

Each turn of its loop takes up to as many jobs as it has free sending slots (one pipelined round trip),
marks them started in RQ's registries (one more), leases and records their deliveries in one database
transaction, and hands them to the slots. A writer thread (`delivery.writer`) records whatever the slots
finished in one transaction per batch, whatever Redis does; the loop then closes those jobs in RQ's
registries in one pipeline. Jobs that are not deliveries (the sweeper) run as RQ runs them.
"""

import logging
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import partial

from flask import Flask
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.executions import Execution, cleanup_execution
from rq.job import Job, JobStatus
from rq.results import Result
from rq.worker import WorkerStatus
from sqlalchemy.exc import SQLAlchemyError

from nootification.delivery import batch, ledger
from nootification.delivery.attempt import Ready, SlotResult, run_attempts
from nootification.delivery.breakers import Breakers
from nootification.delivery.outbox import ScheduledJob, delivery_of, hand_back, schedule_jobs
from nootification.delivery.retry import QuickRetries
from nootification.delivery.slots import Done, Slots
from nootification.delivery.writer import LedgerWriter
from nootification.extensions import db
from nootification.models import utcnow
from nootification.rq_json import JOB_FORMAT
from nootification.senders import get_sender

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = timedelta(seconds=1)
# How long an idle engine blocks on Redis for the next job, and how long a busy one waits for a slot.
IDLE_WAIT = 1
BUSY_WAIT = 0.05
TROUBLE_PAUSE = 1.0


class DeliveryEngine(Worker):
    """An RQ worker that keeps up to `concurrency` deliveries in flight, in threads of this one process.

    It registers, heartbeats, fills the started, finished and failed registries and dies as RQ's workers
    do, so `rq info` shows it and its jobs. A stop signal makes it take no new job and wait up to
    `stop_timeout` s for the sends in flight; a second one, or the end of that wait, hands the rest back
    to the queue. A killed engine's deliveries come back through their leases (the sweeper).
    """

    log_result_lifespan = False

    def __init__(
        self,
        queues: Sequence[Queue],
        *,
        app: Flask,
        concurrency: int,
        batch_size: int,
        stop_timeout: float,
        **kwargs,
    ):
        super().__init__(queues, **JOB_FORMAT, **kwargs)
        self.app = app
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.stop_timeout = stop_timeout
        self.config: Mapping = app.config
        self.quick = QuickRetries.from_config(app.config)
        self.breakers = Breakers(
            self.connection,
            threshold=app.config["BREAKER_FAILURE_THRESHOLD"],
            cooldown=app.config["BREAKER_COOLDOWN"],
        )
        self._running: dict[str, tuple[Job, Execution]] = {}
        # Jobs whose deliveries' outcomes the writer wrote, still to close in RQ's registries.
        self._unclosed: list[tuple[Job, Execution]] = []
        # The retries the writer put off, for the loop to hand to rq-scheduler.
        self._unscheduled: list[ScheduledJob] = []
        self._handover_lock = threading.Lock()
        self._outcomes_written = threading.Event()
        self._writer: LedgerWriter | None = None
        # Job ids moved to the intermediate list but not yet started: a Redis error between the two must not
        # leave them there (RQ's own clean-up would fail them only after 10 to 20 minutes).
        self._taken: list[str] = []
        self._hand_back_now = False

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stop_requested

    # Signals: the first stops taking jobs, the second hands back what is in flight.

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def request_stop(self, signum, frame) -> None:
        """Take no new job; a second signal hands the sends in flight back at once."""
        if self._stop_requested:
            self._hand_back_now = True
            log.warning("worker %s: stopping now, handing back what is in flight", self.name)
            return
        self._stop_requested = True
        log.info(
            "worker %s: stopping once the sends in flight end (at most %.0f s)", self.name, self.stop_timeout
        )

    def bootstrap(self, *args, **kwargs) -> None:
        """Register as RQ does, with the stop handlers in place first: a stop during it is not lost."""
        self._install_signal_handlers()
        super().bootstrap(*args, **kwargs)

    # The loop.

    def work(self, burst: bool = False, **kwargs) -> bool:
        """Consume the queue until stopped (or, with `burst`, until it is empty and nothing is in flight)."""
        self.bootstrap()
        slots = Slots(self.app, self.concurrency, self._send, utcnow)
        self._writer = LedgerWriter(
            self.app, slots, self.config, written=self._written, schedule=self._schedule_later
        )
        self._writer.start()
        worked = False
        try:
            while not self._stop_requested:
                try:
                    worked = self._turn(slots, burst) or worked
                except RedisError as error:
                    log.warning(
                        "worker %s: Redis error, carrying on in %.0f s: %s", self.name, TROUBLE_PAUSE, error
                    )
                    time.sleep(TROUBLE_PAUSE)
                if (
                    burst
                    and not slots.busy
                    and not self._writer.holding
                    and not self._unclosed
                    and not self._taken
                    and not self._queue_has_jobs()
                ):
                    break
            self._drain(slots)
        finally:
            self.teardown()
        return worked

    def _turn(self, slots: Slots, burst: bool) -> bool:
        self._close_written()
        self._schedule_retries()
        self._maintain()
        free = min(slots.free(), self.batch_size)
        if not self._taken and free:
            self._taken = self._take(free, block=not burst and slots.busy == 0)
        taken = bool(self._taken)
        if taken:
            self._start(self._taken, slots)
        wait = 0 if taken or not slots.busy else (BUSY_WAIT if free else IDLE_WAIT)
        if self._outcomes_written.wait(wait):
            self._outcomes_written.clear()
        if not slots.busy:
            self.set_state(WorkerStatus.IDLE)
        return taken

    def _maintain(self) -> None:
        if not self.last_heartbeat or utcnow() - self.last_heartbeat >= HEARTBEAT_EVERY:
            self.heartbeat()
        if self.should_run_maintenance_tasks:
            self.run_maintenance_tasks()

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """Record the worker's state, unless it is already the state this process last recorded."""
        if pipeline is not None or state != self.get_state():
            super().set_state(state, pipeline)

    def _queue_has_jobs(self) -> bool:
        return any(queue.count for queue in self.queues)

    # Taking jobs and starting them.

    def _take(self, count: int, *, block: bool) -> list[str]:
        """Move up to `count` job ids to the queue's intermediate list (RQ's way of not losing them)."""
        queue = self.queues[0]
        with self.connection.pipeline(transaction=False) as pipeline:
            for _ in range(count):
                pipeline.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
            taken = [job_id.decode() for job_id in pipeline.execute() if job_id is not None]
        if not taken and block:
            job_id = self.connection.blmove(
                queue.key, queue.intermediate_queue_key, IDLE_WAIT, "LEFT", "RIGHT"
            )
            taken = [job_id.decode()] if job_id is not None else []
        return taken

    def _start(self, job_ids: list[str], slots: Slots) -> None:
        queue = self.queues[0]
        fetched = self.job_class.fetch_many(job_ids, connection=self.connection, serializer=self.serializer)
        jobs = [job for job in fetched if job is not None]
        executions: dict[str, Execution] = {}
        with self.connection.pipeline() as pipeline:
            for job in jobs:
                executions[job.id] = Execution.create(
                    job, self.get_heartbeat_ttl(job), pipeline=pipeline, worker_name=self.name
                )
                job.prepare_for_execution(self.name, pipeline=pipeline)
                pipeline.persist(job.key)
            for job_id in job_ids:
                pipeline.lrem(queue.intermediate_queue_key, 1, job_id)
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            pipeline.execute()
        self._taken = []
        deliveries = {}
        for job in jobs:
            delivery_id = delivery_of(job)
            if delivery_id:
                deliveries[delivery_id] = job
            else:
                # Other jobs run as RQ runs them; so does a delivery's job whose call cannot be read: RQ fails
                # it unrun, and the sweeper queues its delivery again.
                self.perform_job(job, queue, executions[job.id])
        if deliveries:
            self._start_deliveries(deliveries, executions, slots)

    def _start_deliveries(self, jobs: dict[str, Job], executions: dict[str, Execution], slots: Slots) -> None:
        try:
            ready = batch.prepare(
                db.session,
                list(jobs),
                get_sender=get_sender,
                breakers=self.breakers,
                config=self.config,
                now=utcnow(),
            )
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning(
                "worker %s: database error while claiming, queuing %d jobs again: %s",
                self.name,
                len(jobs),
                error,
            )
            self._requeue(list(jobs.values()), executions)
            time.sleep(TROUBLE_PAUSE)
            return
        sending = {item.delivery.id for item in ready}
        self._close_jobs(
            [(job, executions[job.id]) for delivery_id, job in jobs.items() if delivery_id not in sending]
        )
        for item in ready:
            job = jobs[item.delivery.id]
            self._running[item.delivery.id] = (job, executions[job.id])
            slots.submit(item)

    def _requeue(self, jobs: list[Job], executions: dict[str, Execution]) -> None:
        """Put jobs back at the head of the queue, as if never taken (their deliveries were not leased)."""
        queue = self.queues[0]
        with self.connection.pipeline() as pipeline:
            for job in jobs:
                cleanup_execution(self, job, pipeline, executions[job.id])
                job.set_status(JobStatus.QUEUED, pipeline=pipeline)
                pipeline.lpush(queue.key, job.id)
            pipeline.execute()

    # Sending (in a slot's thread).

    def _send(self, item: Ready) -> SlotResult:
        return run_attempts(
            item,
            breakers=self.breakers,
            quick=self.quick,
            start_attempt=partial(ledger.record_start, db.engine),
        )

    # Closing the jobs of what the writer wrote (it runs in its own thread: see delivery.writer).

    def _written(self, outcomes: list[Done]) -> None:
        with self._handover_lock:
            self._unclosed += [self._running.pop(d.item.delivery.id) for d in outcomes]
        self._outcomes_written.set()

    def _schedule_later(self, jobs: Sequence[ScheduledJob]) -> None:
        with self._handover_lock:
            self._unscheduled += jobs

    def _schedule_retries(self) -> None:
        """Hand rq-scheduler the retries the writer put off; those Redis refuses, the sweeper queues."""
        with self._handover_lock:
            jobs, self._unscheduled = self._unscheduled, []
        schedule_jobs(jobs)

    def _close_written(self) -> None:
        """Close the RQ jobs of the outcomes written; kept for the next turn if Redis fails meanwhile."""
        with self._handover_lock:
            jobs, self._unclosed = self._unclosed, []
        try:
            self._close_jobs(jobs)
        except RedisError:
            with self._handover_lock:
                self._unclosed = jobs + self._unclosed
            raise

    def _close_jobs(self, jobs: list[tuple[Job, Execution]]) -> None:
        """RQ's bookkeeping of finished jobs, in one round trip: their results are not kept."""
        if not jobs:
            return
        with self.connection.pipeline() as pipeline:
            for job, execution in jobs:
                cleanup_execution(self, job, pipeline, execution)
                # What Job.delete would leave to do once its one execution is gone, without the five reads
                # per job it makes first: a delivery's job has no dependents, group, rate limit or result.
                pipeline.delete(
                    job.key,
                    job.dependents_key,
                    job.dependencies_key,
                    job.execution_registry.key,
                    Result.get_key(job.id),
                )
            pipeline.hincrby(self.key, "successful_job_count", len(jobs))
            pipeline.execute()

    # Stopping.

    def _drain(self, slots: Slots) -> None:
        deadline = time.monotonic() + self.stop_timeout
        while slots.busy or self._writer.holding:
            if time.monotonic() >= deadline or self._hand_back_now:
                break
            time.sleep(BUSY_WAIT)
        self._writer.stop(timeout=max(deadline - time.monotonic(), BUSY_WAIT))
        try:
            self._close_written()
        except RedisError as error:
            log.warning("worker %s: finished jobs left open in RQ (Redis): %s", self.name, error)
        self._schedule_retries()
        left = slots.in_flight()
        if left:
            log.warning("worker %s: handing back %d deliveries still in flight", self.name, len(left))
            self._hand_back(left)

    def _hand_back(self, items: list[Ready]) -> None:
        try:
            hand_back(db.session, [item.delivery for item in items])
        except (SQLAlchemyError, RedisError) as error:
            db.session.rollback()
            log.warning("worker %s: could not hand back (their leases will): %s", self.name, error)
            return
        self._close_jobs([self._running.pop(item.delivery.id) for item in items])
