"""The delivery engine behind `flask worker`: the delivery queue consumed in batches, many sends in flight.

Each turn of its loop reads: take (up to as many jobs as it has free sending slots, one pipelined round
trip) -> start (one more) -> prepare (lease and record their deliveries in one database transaction) ->
slots (the sends) -> writer (a thread records what the slots finished, one transaction per batch, whatever
Redis does) -> close (the loop deletes those jobs in one pipeline). Every second or so it also queues the
scheduled deliveries whose time has come (retries: a row with a due time, not a job). Jobs that are not
deliveries (the sweeper) run as RQ runs them. Every RQ detail is behind `delivery.queue`.

Which thread may touch what:

| thread          | Redis                             | database                       | providers           |
|-----------------|-----------------------------------|--------------------------------|---------------------|
| loop (main)     | take, start, close, requeue,      | lease and prepare a batch,     | never               |
|                 | heartbeat, breakers (prepare),    | queue the due retries, hand    |                     |
|                 | push the due retries' jobs        | back at a stop                 |                     |
| slots (N)       | their destination's breaker only  | the attempt's in-flight row    | one send at a time  |
| ledger writer   | never                             | the outcomes, a batch a time   | never               |

Each thread has a stop: the loop ends its turns at a signal (the first stops taking jobs, the second hands
back what is in flight); the writer writes once more and ends (`LedgerWriter.stop`); the slots end once their
send is done (`Slots.stop`; daemon threads, so a send hung past the stop's bound keeps nothing alive).
"""

import logging
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from functools import partial

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from nootification.delivery import batch, ladder, ledger
from nootification.delivery.attempt import Ready, SlotResult, run_attempts
from nootification.delivery.breakers import Breakers
from nootification.delivery.outbox import hand_back, queue_due
from nootification.delivery.queue.worker import QueueWorker
from nootification.delivery.retry import QuickRetries
from nootification.delivery.slots import Done, Slots
from nootification.delivery.writer import LedgerWriter
from nootification.extensions import db
from nootification.models import utcnow
from nootification.senders import get_sender

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 1.0
# How often the loop looks for scheduled deliveries that are due (retries, a ladder's later steps), and how
# many it queues at once.
DUE_EVERY = 0.5
# How long an idle engine blocks on Redis for the next job (no longer than between two looks for due
# deliveries: a ladder's step goes out within 2 s of its time), and how long a busy one waits for a slot.
IDLE_WAIT = DUE_EVERY
BUSY_WAIT = 0.05
TROUBLE_PAUSE = 1.0
DUE_BATCH = 500


class DeliveryEngine(QueueWorker):
    """An RQ worker that keeps up to `concurrency` deliveries in flight, in threads of this one process.

    It registers, heartbeats, fills the started registry and dies as RQ's workers do, so `rq info` shows
    it. A stop signal makes it take no new job and wait up to `stop_timeout` s for the sends in flight; a
    second one, or the end of that wait, hands the rest back to the queue. A killed engine's deliveries
    come back through their leases (the sweeper).
    """

    log_result_lifespan = False

    def __init__(
        self,
        queues: Sequence,
        *,
        app: Flask,
        concurrency: int,
        batch_size: int,
        stop_timeout: float,
        **kwargs,
    ):
        super().__init__(queues, started_ttl=int(app.config["DELIVERY_LEASE"]) + 60, **kwargs)
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
        # Job ids by delivery id, of the deliveries in the slots.
        self._running: dict[str, str] = {}
        # Jobs whose deliveries' outcomes the writer wrote, still to close.
        self._unclosed: list[str] = []
        self._handover_lock = threading.Lock()
        self._outcomes_written = threading.Event()
        self._writer: LedgerWriter | None = None
        # Job ids moved to the intermediate list but not yet started: a Redis error between the two must not
        # leave them there (RQ's own clean-up would fail them only after 10 to 20 minutes).
        self._taken: list[str] = []
        self._hand_back_now = False
        self._due_checked = 0.0

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
        self._writer = LedgerWriter(self.app, slots, self.config, written=self._written)
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
                    self._pause()
                if (
                    burst
                    and not slots.busy
                    and not self._writer.holding
                    and not self._unclosed
                    and not self._taken
                    and not self.has_jobs()
                ):
                    break
            self._drain(slots)
        finally:
            slots.stop()
            self._unregister()
        return worked

    def _unregister(self) -> None:
        """RQ's teardown; with Redis away, the registration expires by itself (WORKER_TTL)."""
        try:
            self.teardown()
        except RedisError as error:
            log.warning("worker %s: could not unregister (Redis): %s", self.name, error)

    def _pause(self) -> None:
        """Wait out trouble, but not past a stop signal."""
        deadline = time.monotonic() + TROUBLE_PAUSE
        while not self._stop_requested and time.monotonic() < deadline:
            time.sleep(BUSY_WAIT)

    def _turn(self, slots: Slots, burst: bool) -> bool:
        self._close_written()
        self._queue_due()
        self.maintain(HEARTBEAT_EVERY)
        free = min(slots.free(), self.batch_size)
        if not self._taken and free:
            self._taken = self.take(free, block=not burst and slots.busy == 0, wait=IDLE_WAIT)
        taken = bool(self._taken)
        if taken:
            deliveries = self.start(self._taken)
            self._taken = []
            if deliveries:
                self._prepare(deliveries, slots)
        wait = 0 if taken or not slots.busy else (BUSY_WAIT if free else IDLE_WAIT)
        if self._outcomes_written.wait(wait):
            self._outcomes_written.clear()
        if not slots.busy:
            self.idle()
        return taken

    def _queue_due(self) -> None:
        """Queue the scheduled deliveries whose time has come (their retries), every DUE_EVERY s."""
        if time.monotonic() - self._due_checked < DUE_EVERY:
            return
        self._due_checked = time.monotonic()
        try:
            queue_due(db.session, utcnow(), DUE_BATCH)
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("worker %s: database error while queuing due retries: %s", self.name, error)

    def _prepare(self, jobs: dict[str, str], slots: Slots) -> None:
        """Lease the started jobs' deliveries and hand those ready to the slots; close the others' jobs."""
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
            self.requeue(list(jobs.values()))
            self._pause()
            return
        sending = {item.delivery.id for item in ready}
        self.close([job_id for delivery_id, job_id in jobs.items() if delivery_id not in sending])
        for item in ready:
            self._running[item.delivery.id] = jobs[item.delivery.id]
            slots.submit(item)

    # Sending (in a slot's thread).

    def _send(self, item: Ready) -> SlotResult:
        return run_attempts(
            item,
            breakers=self.breakers,
            quick=self.quick,
            start_attempt=partial(ledger.record_start, db.engine),
            not_needed=partial(ladder.not_needed_now, db.engine),
        )

    # Closing the jobs of what the writer wrote (it runs in its own thread: see delivery.writer).

    def _written(self, outcomes: list[Done]) -> None:
        with self._handover_lock:
            self._unclosed += [self._running.pop(d.item.delivery.id) for d in outcomes]
        self._outcomes_written.set()

    def _close_written(self) -> None:
        """Close the jobs of the outcomes written; kept for the next turn if Redis fails meanwhile."""
        with self._handover_lock:
            jobs, self._unclosed = self._unclosed, []
        try:
            self.close(jobs)
        except RedisError:
            with self._handover_lock:
                self._unclosed = jobs + self._unclosed
            raise

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
        self.close([self._running.pop(item.delivery.id) for item in items])
