"""Workers as tests run them: a `flask worker` process, an engine or a burst in this process; waiting."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from rq import SimpleWorker

from nootification.delivery.engine import DeliveryEngine
from nootification.delivery.queue import delivery_queue
from nootification.delivery.queue.json_jobs import JOB_FORMAT
from nootification.extensions import redis_queue

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


def engine_for(app: Flask, engine_class: type[DeliveryEngine] = DeliveryEngine) -> DeliveryEngine:
    """A small engine on the test queue, in this process."""
    return engine_class(
        [delivery_queue()],
        app=app,
        concurrency=2,
        batch_size=2,
        stop_timeout=1,
        connection=redis_queue.connection,
    )


def run_worker() -> None:
    """Run every queued job in-process until the queue is empty, as `flask worker --burst` would."""
    SimpleWorker([delivery_queue()], connection=redis_queue.connection, **JOB_FORMAT).work(burst=True)
