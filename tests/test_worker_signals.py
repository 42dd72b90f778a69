"""`flask worker` stops on SIGTERM, rather than taking the signal for a lost Redis and starting again."""

import signal
import time

from nootification.extensions import redis_queue
from tests.test_worker_process import wait_until, worker_process


def test_an_idle_worker_exits_on_sigterm(app, db):
    worker = worker_process(app)
    try:
        wait_until(lambda: redis_queue.connection.smembers("rq:workers"), timeout=60)
        time.sleep(0.5)  # RQ installs its signal handlers just after registering the worker
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        _, errors = worker.communicate()
        assert worker.returncode == 0, errors.decode()[-2000:]
        assert b"starting it again" not in errors
    finally:
        if worker.poll() is None:
            worker.kill()
