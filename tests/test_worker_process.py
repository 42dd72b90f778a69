"""A real `flask worker` process killed with SIGKILL in the middle of a send loses nothing."""

import signal
from datetime import timedelta

from nootification.delivery.sweeper import sweep
from nootification.models import DeliveryStatus
from tests.helpers.factories import stored_delivery
from tests.helpers.processes import wait_until, worker_process


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
