"""The reads a person or a dashboard makes, each timed over HTTP a number of times, one after the other."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from bench import report

# Between two opens of the ops stream: a closed stream gives its slot back at the server's next poll.
OPS_PAUSE = 0.2
BUSY = 503


class ReadError(Exception):
    """A read did not answer as it should, so its time would mean nothing."""


@dataclass(frozen=True)
class Reader:
    """The API, with the admin token, and what the reads are about: one shop and one of its alerts."""

    api: str
    token: str
    shop: str
    alert_uuid: str
    timeout: float = 30.0

    def session(self) -> requests.Session:
        """An HTTP session that sends the admin token."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        return session


def _get(path: str) -> Callable[[Reader, requests.Session], float]:
    def read(reader: Reader, session: requests.Session) -> float:
        started = time.perf_counter()
        response = session.get(f"{reader.api}{path.format(reader=reader)}", timeout=reader.timeout)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise ReadError(f"GET {path}: {response.status_code} {response.text[:200]}")
        return elapsed

    return read


def ops_snapshot(reader: Reader, session: requests.Session) -> float:
    """The ops page's data: from opening its event stream (with a fresh ticket) to its `snapshot` event."""
    for _ in range(50):
        ticket = session.post(f"{reader.api}/ops/ticket", timeout=reader.timeout).json()["ticket"]
        started = time.perf_counter()
        with requests.get(
            f"{reader.api}/ops/events", params={"ticket": ticket}, stream=True, timeout=reader.timeout
        ) as response:
            if response.status_code == BUSY:  # the last stream's slot is not back yet
                time.sleep(OPS_PAUSE)
                continue
            seen_snapshot = False
            for line in response.iter_lines():
                if line == b"event: snapshot":
                    seen_snapshot = True
                elif seen_snapshot and line.startswith(b"data:"):
                    elapsed = time.perf_counter() - started
                    break
            else:
                raise ReadError("the ops stream ended without a snapshot")
        time.sleep(OPS_PAUSE)
        return elapsed
    raise ReadError("the ops stream stayed busy")


# Each read's name and how it is made; the shop and the alert are the reader's.
READS: dict[str, Callable[[Reader, requests.Session], float]] = {
    "stats_shop": _get("/stats?location={reader.shop}"),
    "stats_all": _get("/stats"),
    "ops_snapshot": ops_snapshot,
    "alert": _get("/alerts/{reader.alert_uuid}"),
    "deliveries_by_status": _get("/deliveries?status=failed"),
    "deliveries_by_alert": _get("/deliveries?alert_uuid={reader.alert_uuid}"),
    "users_by_location": _get("/users?location={reader.shop}"),
    "metrics": _get("/metrics"),
}


def measure_reads(reader: Reader, repeats: int) -> dict[str, dict]:
    """Each read once to warm up, then `repeats` times: its p50, p95, p99 and max in ms."""
    results = {}
    with reader.session() as session:
        for name, read in READS.items():
            read(reader, session)
            latencies = [read(reader, session) for _ in range(repeats)]
            results[name] = {"count": len(latencies), **report.latency_ms(latencies)}
    return results
