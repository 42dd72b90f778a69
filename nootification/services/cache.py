"""Small tables every delivery reads, read again at most once per TEMPLATE_CACHE_SECONDS by each process."""

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from flask import current_app

T = TypeVar("T")


class PeriodicRead(Generic[T]):
    """The result of `read`, kept for TEMPLATE_CACHE_SECONDS: a change made elsewhere reaches every process
    within that many seconds, and one made by this process at once (it calls `forget`)."""

    def __init__(self, read: Callable[[], T]):
        self._read = read
        self._read_at = float("-inf")
        self._value: T | None = None

    def get(self) -> T:
        """The kept value, read again when it is too old."""
        if time.monotonic() - self._read_at >= current_app.config["TEMPLATE_CACHE_SECONDS"]:
            self._value = self._read()
            self._read_at = time.monotonic()
        return self._value

    def forget(self) -> None:
        """Drop the kept value (after this process changed the table)."""
        self._read_at = float("-inf")
