"""Open-loop load: requests leave on a fixed schedule whatever the answers, timed from their scheduled slot.

Timing from the schedule rather than from the moment a request actually left avoids coordinated omission:
when the server slows down, the requests queued behind it are charged the wait, as real cameras would be.
"""

import http.client
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# A request leaving this long after its slot counts as late: the client had no free thread for it.
LATE_AFTER = 0.010
# After the schedule ends, requests still waiting for a thread get this long to leave, then are dropped.
MIN_GRACE = 5.0
STALE_CONNECTION_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

Answer = tuple[int, Any]
"""An HTTP status and the decoded JSON body (None when the body is not JSON)."""


class JsonClient:
    """JSON over keep-alive HTTP/1.1, one connection per thread.

    Lighter than requests, so the load generator takes less of the two cores it shares with the service.
    """

    def __init__(self, base_url: str, timeout: float = 10.0, token: str | None = None):
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, path: str, body: dict) -> Answer:
        """POST `body` as JSON and return the status and decoded answer; raises OSError on network failure."""
        return self.request("POST", path, body)

    def patch(self, path: str, body: dict) -> Answer:
        """PATCH `body` as JSON and return the status and decoded answer."""
        return self.request("PATCH", path, body)

    def request(self, method: str, path: str, body: dict) -> Answer:
        """Send `body` as JSON with `method` on this thread's connection (a fresh one if the server closed
        it); the status and decoded answer."""
        payload = json.dumps(body).encode()
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            try:
                return self._exchange(connection, method, path, payload)
            except STALE_CONNECTION_ERRORS:
                # The server closed the idle keep-alive connection under us: one try on a fresh one.
                self._drop(connection)
            except (OSError, http.client.HTTPException):
                self._drop(connection)
                raise
        connection = self._connect()
        try:
            return self._exchange(connection, method, path, payload)
        except (OSError, http.client.HTTPException):
            self._drop(connection)
            raise

    def close(self) -> None:
        """Close every connection the client opened."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._local.connection = connection
        with self._lock:
            self._connections.append(connection)
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._local.connection = None
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)

    def _exchange(
        self, connection: http.client.HTTPConnection, method: str, path: str, payload: bytes
    ) -> Answer:
        connection.request(method, path, body=payload, headers=self.headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, None


@dataclass
class Shot:
    """One scheduled request: its slot, when it left, its latency from the slot and its answer."""

    due: float  # time.perf_counter() of the slot
    due_wall: float  # the same instant on the wall clock, to compare with the stub's received_at
    delay: float | None = None  # seconds between the slot and leaving; None when dropped
    latency: float | None = None  # seconds between the slot and the answer; None when dropped or failed
    status: int | None = None
    body: Any = None
    error: str | None = None


@dataclass
class LoadRun:
    """Every shot of one open-loop run at `rate` requests/s for `duration` s."""

    rate: float
    duration: float
    shots: list[Shot] = field(default_factory=list)
    elapsed: float = 0.0  # seconds from the first slot to the last answer

    def answered(self, statuses: tuple[int, ...]) -> list[Shot]:
        """The shots answered with one of `statuses`."""
        return [shot for shot in self.shots if shot.status in statuses]

    def counts(self, statuses: tuple[int, ...]) -> dict[str, int]:
        """Sent, answered as expected, failed (network error or another status), late and dropped."""
        sent = [shot for shot in self.shots if shot.delay is not None]
        ok = len(self.answered(statuses))
        return {
            "offered": len(self.shots),
            "sent": len(sent),
            "ok": ok,
            "errors": len(sent) - ok,
            "late": sum(1 for shot in sent if shot.delay > LATE_AFTER),
            "dropped": len(self.shots) - len(sent),
        }


def _sleep_until(instant: float) -> None:
    remaining = instant - time.perf_counter()
    if remaining > 0:
        time.sleep(remaining)


def _fire(request: Callable[[], Answer], shot: Shot, drop_after: float) -> None:
    left = time.perf_counter()
    if left > drop_after:
        return
    shot.delay = left - shot.due
    try:
        shot.status, shot.body = request()
    except (OSError, http.client.HTTPException) as error:
        shot.error = type(error).__name__
        return
    shot.latency = time.perf_counter() - shot.due


def open_loop(request: Callable[[], Answer], *, rate: float, duration: float, concurrency: int) -> LoadRun:
    """Call `request` `rate` times a second for `duration` s from `concurrency` threads, on schedule."""
    count = max(1, round(rate * duration))
    start = time.perf_counter() + 0.05
    wall_offset = time.time() - time.perf_counter()
    run = LoadRun(rate, duration)
    run.shots = [Shot(due=start + i / rate, due_wall=start + i / rate + wall_offset) for i in range(count)]
    drop_after = start + duration + max(MIN_GRACE, duration)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="load") as pool:
        for shot in run.shots:
            _sleep_until(shot.due)
            pool.submit(_fire, request, shot, drop_after)
    run.elapsed = time.perf_counter() - start
    return run
