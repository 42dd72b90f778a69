"""`flask worker` stops at once on SIGTERM, rather than taking the signal for a lost Redis."""

import signal
import time

from tests.test_worker_process import worker_process


def test_an_idle_worker_exits_on_sigterm(app, db):
    worker = worker_process(app)
    try:
        time.sleep(2)  # let it start and sit idle on the queue
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=15)
        assert worker.returncode == 0
        _, errors = worker.communicate()
        assert b"starting it again" not in errors
    finally:
        if worker.poll() is None:
            worker.kill()
