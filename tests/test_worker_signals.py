"""`flask worker` stops on SIGTERM, rather than taking the signal for a lost Redis and starting again."""

import os
import signal
import subprocess
import time

import pytest
from redis import Redis

from nootification.cli import StopAwareScheduler
from nootification.delivery.engine import DeliveryEngine
from nootification.delivery.queue import delivery_queue, live_schedulers, live_workers
from nootification.extensions import redis_queue
from nootification.redis_server import find_redis_server, server_arguments
from tests.helpers.config import free_port
from tests.helpers.processes import engine_for, wait_until, worker_process


def test_an_idle_worker_exits_on_sigterm(app, db):
    worker = worker_process(app)
    try:
        wait_until(lambda: redis_queue.connection.smembers("rq:workers"), timeout=60)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        _, errors = worker.communicate()
        assert worker.returncode == 0, errors.decode()[-2000:]
        assert b"starting it again" not in errors
    finally:
        if worker.poll() is None:
            worker.kill()


class EarlyStopSignal(Exception):
    """Raised when a signal reaches the test's own handler: the code under test did not catch it in time."""


@pytest.fixture
def signals_reach_a_sentinel():
    """Point SIGINT/SIGTERM at a handler that raises, and give the test's own handlers back afterwards."""

    def sentinel(signum, frame):
        raise EarlyStopSignal(signum)

    previous = {signum: signal.signal(signum, sentinel) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


class SignalledWhileRegistering(DeliveryEngine):
    """A worker that receives SIGTERM just after it registered, before its loop starts."""

    def register_birth(self) -> None:
        super().register_birth()
        os.kill(os.getpid(), signal.SIGTERM)


class SchedulerSignalledWhileRegistering(StopAwareScheduler):
    """A scheduler that receives SIGTERM just after it registered."""

    def register_birth(self) -> None:
        super().register_birth()
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_worker_signalled_while_registering_stops_and_unregisters(app, db, signals_reach_a_sentinel):
    worker = engine_for(app, SignalledWhileRegistering)
    worked = worker.work(burst=False)  # without the early handler this raises EarlyStopSignal
    assert (worked, worker.stopping) == (False, True)
    assert live_workers() == []


def test_a_scheduler_signalled_while_registering_registers_its_death(app, db, signals_reach_a_sentinel):
    scheduler = SchedulerSignalledWhileRegistering(
        queue=delivery_queue(), connection=redis_queue.connection, sweep_interval=10
    )
    with pytest.raises(SystemExit):
        scheduler.run()
    assert live_schedulers(redis_queue.connection) == 0
    assert redis_queue.connection.hexists(scheduler.key, "death")


def test_a_worker_told_to_stop_while_redis_is_down_exits_in_time(app, db, tmp_path):
    # Its own redis-server, to kill: the worker must not take the lost Redis for a reason to build a second
    # engine and wait for Redis for ever with the stop forgotten.
    port = free_port()
    redis_server = subprocess.Popen(
        [find_redis_server(), *server_arguments(port=port, directory=tmp_path, persist=False)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    stop_timeout = 2
    worker = worker_process(app, env={"REDIS_URL": url, "WORKER_STOP_TIMEOUT": str(stop_timeout)})
    try:
        wait_until(lambda: _answers(url) and Redis.from_url(url).smembers("rq:workers"), timeout=60)
        redis_server.kill()
        redis_server.wait(timeout=10)
        time.sleep(1.5)  # the engine meets the refusals
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=stop_timeout + 5)
    finally:
        for process in (worker, redis_server):
            if process.poll() is None:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url).ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False
