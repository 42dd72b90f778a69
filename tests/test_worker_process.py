"""A real `flask worker` process killed with SIGKILL in the middle of a send loses nothing."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from nootification.delivery.sweeper import sweep
from nootification.models import DeliveryStatus
from tests.factories import stored_delivery

ROOT = Path(__file__).resolve().parent.parent


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


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_worker_killed_mid_send_is_replaced_and_the_message_arrives_once(app, queued_delivery, stub):
    stub.control(hang_next=1, hang_seconds=2)
    worker = worker_process(app)
    try:
        wait_until(lambda: stub.control()["counters"]["rejected"] == 1)  # the request is in flight
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()

    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.SENDING
    assert sweep(now=delivery.lease_expires_at + timedelta(seconds=1)).reclaimed == 1

    replacement = worker_process(app, "--burst")
    _, errors = replacement.communicate(timeout=60)
    assert replacement.returncode == 0, errors.decode()[-2000:]
    assert stored_delivery().status is DeliveryStatus.SENT
    received = stub.messages(queued_delivery)
    assert (received["count"], received["duplicates"]) == (1, 0)
