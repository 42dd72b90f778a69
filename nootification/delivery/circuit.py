"""A circuit breaker per destination, its state kept in Redis so every worker shares it."""

import logging
import time
from enum import StrEnum

from redis import Redis

log = logging.getLogger(__name__)

KEY_PREFIX = "nootification:breaker:"


class CircuitState(StrEnum):
    """closed: sending; open: deferring everything; half_open: one probe decides."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `threshold` consecutive transient failures for `cooldown` s, then lets one probe in.

    `check` tells whether the breaker is clean (closed, no failure counted): a caller that saw it clean need
    not `close` it after a success, so on the happy path a send costs at most one read. A failure another
    worker records between that read and the success is then not cleared by it, so the breaker may open a
    little sooner under concurrency, never later.
    """

    def __init__(self, connection: Redis, name: str, *, threshold: int, cooldown: float, clock=time.time):
        self.connection = connection
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures_key = f"{KEY_PREFIX}{name}:failures"
        self._open_until_key = f"{KEY_PREFIX}{name}:open_until"
        self._probe_key = f"{KEY_PREFIX}{name}:probe"

    def _open_until(self) -> float | None:
        value = self.connection.get(self._open_until_key)
        return None if value is None else float(value)

    def _state(self, open_until: float | None) -> CircuitState:
        if open_until is None:
            return CircuitState.CLOSED
        return CircuitState.OPEN if self._clock() < open_until else CircuitState.HALF_OPEN

    def state(self) -> CircuitState:
        """The breaker's state now."""
        return self._state(self._open_until())

    def check(self) -> tuple[bool, bool]:
        """(whether an attempt may go out now, whether the breaker is clean); half-open lets one caller in."""
        open_until, failures = self.connection.mget(self._open_until_key, self._failures_key)
        clean = open_until is None and failures is None
        state = self._state(None if open_until is None else float(open_until))
        if state is CircuitState.CLOSED:
            return True, clean
        if state is CircuitState.OPEN:
            return False, False
        # The probe key expires, so a worker that dies while probing does not hold the breaker forever.
        return bool(self.connection.set(self._probe_key, 1, nx=True, ex=max(1, int(self.cooldown)))), False

    def retry_in(self) -> float:
        """Seconds until the breaker lets a probe through (0 when it already would)."""
        open_until = self._open_until()
        return 0.0 if open_until is None else max(0.0, open_until - self._clock())

    def close(self) -> None:
        """A send went through: forget the failures and close the breaker."""
        with self.connection.pipeline() as pipeline:
            pipeline.get(self._open_until_key)
            pipeline.delete(self._failures_key, self._open_until_key, self._probe_key)
            was_open, _ = pipeline.execute()
        if was_open is not None:
            log.info("circuit %s closed", self.name)

    def record_failure(self) -> None:
        """A transient failure: count it, and open (or re-open after a failed probe) at the threshold."""
        with self.connection.pipeline() as pipeline:
            pipeline.incr(self._failures_key)
            pipeline.delete(self._probe_key)
            failures, was_probing = pipeline.execute()
        if failures >= self.threshold or was_probing:
            self.connection.set(self._open_until_key, self._clock() + self.cooldown)
            log.warning("circuit %s open for %.0f s after %d failures", self.name, self.cooldown, failures)
