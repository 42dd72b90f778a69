"""The circuit breakers one worker consults: each read from Redis at most once a short while when closed."""

import threading
import time
from collections.abc import Callable

from redis import Redis

from nootification.delivery.circuit import CircuitBreaker
from nootification.senders.base import SendError


class CircuitOpenError(SendError):
    """The destination's circuit breaker is open: nothing was attempted; try again in `retry_after` s."""


class Breakers:
    """Every destination's breaker, shared by the sending threads of one process.

    A breaker found closed with no failures counted is trusted for `window` seconds without another read;
    a success then needs no write either. A failure is written at once and drops the trust, so a failing
    destination is read again on its next send.
    """

    def __init__(
        self,
        connection: Redis,
        *,
        threshold: int,
        cooldown: float,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._connection = connection
        self._threshold = threshold
        self._cooldown = cooldown
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._clean_until: dict[str, float] = {}

    def _breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = CircuitBreaker(
                    self._connection, name, threshold=self._threshold, cooldown=self._cooldown
                )
                self._breakers[name] = breaker
            return breaker

    def _trusted_clean(self, name: str) -> bool:
        with self._lock:
            return self._clock() < self._clean_until.get(name, float("-inf"))

    def allow(self, name: str) -> bool:
        """Whether an attempt to this destination may go out now (a half-open breaker lets one through)."""
        if self._trusted_clean(name):
            return True
        breaker = self._breaker(name)
        allowed, clean = breaker.check()
        if clean:
            with self._lock:
                self._clean_until[name] = self._clock() + self._window
        return allowed

    def retry_in(self, name: str) -> float:
        """Seconds until the destination's breaker lets a probe through."""
        return self._breaker(name).retry_in()

    def record_success(self, name: str) -> None:
        """An attempt went through: close the breaker, unless it is known to be clean."""
        if not self._trusted_clean(name):
            self._breaker(name).close()

    def record_failure(self, name: str) -> None:
        """A transient failure: count it (the breaker may open) and read the breaker again next time."""
        with self._lock:
            self._clean_until.pop(name, None)
        self._breaker(name).record_failure()
