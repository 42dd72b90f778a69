"""Sending slots: threads that each send one delivery at a time, so a slow provider holds only one."""

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask

from nootification.delivery.attempt import Ready, SlotResult
from nootification.observability.logs import log_context
from nootification.senders.base import TransientSendError

log = logging.getLogger(__name__)

SendInSlot = Callable[[Ready], SlotResult]


@dataclass(frozen=True)
class Done:
    """A slot's outcome for one delivery, and when the slot ended it."""

    item: Ready
    result: SlotResult
    ended_at: datetime


class Slots:
    """`size` daemon threads that run `send` for each delivery handed to them and report what came of it.

    Daemon threads: a send that hangs past a graceful stop's bound does not keep the process alive; its
    delivery is handed back and the lease covers it.
    """

    def __init__(self, app: Flask, size: int, send: SendInSlot, clock: Callable[[], datetime]):
        self.size = size
        self._app = app
        self._send = send
        self._clock = clock
        self._todo: queue.SimpleQueue[Ready | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._in_flight: dict[str, Ready] = {}
        for number in range(size):
            threading.Thread(target=self._run, name=f"slot-{number}", daemon=True).start()

    def stop(self) -> None:
        """Let each slot's thread end once it has no delivery left to send (a send under way ends first)."""
        for _ in range(self.size):
            self._todo.put(None)

    def submit(self, item: Ready) -> None:
        """Hand a delivery to the next free slot."""
        with self._lock:
            self._in_flight[item.delivery.id] = item
        self._todo.put(item)

    @property
    def busy(self) -> int:
        """How many deliveries are handed to the slots and not yet reported."""
        with self._lock:
            return len(self._in_flight)

    def free(self) -> int:
        """How many more deliveries the slots can take now."""
        return self.size - self.busy

    def in_flight(self) -> list[Ready]:
        """The deliveries handed to the slots and not yet reported."""
        with self._lock:
            return list(self._in_flight.values())

    def collect(self, wait: float) -> list[Done]:
        """Every outcome reported so far, waiting up to `wait` seconds for the first when there is none."""
        done: list[Done] = []
        try:
            done.append(self._done.get(timeout=wait) if wait > 0 else self._done.get_nowait())
            while True:
                done.append(self._done.get_nowait())
        except queue.Empty:
            pass
        with self._lock:
            for outcome in done:
                self._in_flight.pop(outcome.item.delivery.id, None)
        return done

    def _run(self) -> None:
        with self._app.app_context():
            while True:
                item = self._todo.get()
                if item is None:
                    return
                # A device notice has no alert: its records carry the delivery id alone.
                alert = item.delivery.alert
                fields = {"alert_uuid": alert.alert_uuid} if alert is not None else {}
                with log_context(delivery_id=item.delivery.id, **fields):
                    result = self._send_safely(item)
                self._done.put(Done(item, result, self._clock()))

    def _send_safely(self, item: Ready) -> SlotResult:
        try:
            return self._send(item)
        except Exception as error:  # noqa: BLE001 - a bug must cost one delivery a retry, never the slot
            log.exception("delivery %s: unexpected error while sending", item.delivery.id)
            return SlotResult(error=TransientSendError(f"unexpected error: {type(error).__name__}: {error}"))
