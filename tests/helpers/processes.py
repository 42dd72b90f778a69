"""Workers as tests run them: a `flask worker` process, or the engine production runs in this process.

Every engine a test builds comes from `engine_for`, so that only it changes when the engine's constructor
does; no test module builds an RQ worker itself.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app

from nootification.delivery.engine import DeliveryEngine
from nootification.delivery.outbox import queue_due
from nootification.delivery.queue import delivery_queue
from nootification.extensions import db, redis_queue
from nootification.models import utcnow

ROOT = Path(__file__).resolve().parents[2]


def worker_process(app, *arguments: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`flask worker` as a process of its own on the app's database, Redis and stub."""
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "RQ_QUEUE_NAME": app.config["RQ_QUEUE_NAME"],
        "THIRD_PARTY_URL": app.config["THIRD_PARTY_URL"],
        "HTTP_READ_TIMEOUT": "20",
        **(env or {}),
    }
    command = [sys.executable, "-m", "flask", "--app", "nootification", "worker", *arguments]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll `condition` until it holds; fail the test if it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def engine_for(
    app: Flask, engine_class: type[DeliveryEngine] = DeliveryEngine, *, concurrency: int = 2
) -> DeliveryEngine:
    """A small engine on the test queue, in this process: two sends at once unless told."""
    return engine_class(
        [delivery_queue()],
        app=app,
        concurrency=concurrency,
        batch_size=2,
        stop_timeout=1,
        connection=redis_queue.connection,
    )


def drain_queue(app: Flask | None = None, *, concurrency: int = 2) -> int:
    """Run every queued job through the engine, as `flask worker --burst` would; how many were queued.

    The engine sends from threads with sessions of their own: the caller's session is then expired, so that
    what it reads next is what the engine wrote. A test that counts on one send at a time gives
    `concurrency=1`.
    """
    queued = delivery_queue().count
    engine_for(app or current_app._get_current_object(), concurrency=concurrency).work(burst=True)
    db.session.expire_all()
    return queued


def queue_due_retries(ahead: timedelta = timedelta(hours=1)) -> int:
    """Queue every scheduled retry due within `ahead`, as the engine's loop does once their time has come."""
    return queue_due(db.session, utcnow() + ahead, 1000)


@contextmanager
def registered_engine(app: Flask | None = None) -> Iterator[DeliveryEngine]:
    """An engine registered on the queue, as `flask worker` registers itself at start; gone at the end."""
    engine = engine_for(app or current_app._get_current_object())
    engine.register_birth()
    try:
        yield engine
    finally:
        engine.register_death()
