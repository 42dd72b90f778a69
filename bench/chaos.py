"""Chaos run: deliveries under provider failures, a SIGKILLed worker, a Redis restart, a 15 s database write
lock, a 30 s Redis stall (SIGSTOP), an API restart, then the API, a worker, the scheduler and Redis SIGKILLed
in turn and started again.

Asserts that every expected (alert, user) pair reached the stub provider and none twice, and that the
API's /metrics counted what the database holds (alerts created, deliveries sent, failed and expired, one
latency observation per sent delivery); prints lost / duplicated / raw-duplicate / expired counts, the time
to drain and receipt → sent p50 / p95. Loopback only, bounded in time.
"""

import argparse
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from bench import faults
from bench.stack import Stack
from nootification.models import Alert, AttemptOutcomeKind, Delivery, DeliveryAttempt

# The admin API and the webhook, authenticated with the stack's admin token once the stack is up.
session = requests.Session()
NON_FINAL = ("pending", "queued", "sending", "scheduled")

LOCK_SECONDS = 15.0
STALL_SECONDS = 30.0
KILL_PAUSE_SECONDS = 2.0
# Processes SIGKILLed in a run (worker-0 alone, then four in turn): each may miss a count it was making.
KILLED_COUNTING = {"all": 5, "restarts": 1}

# Short timeouts and waits so a few minutes of chaos drain in seconds, not hours.
CHAOS_SETTINGS = {
    "HTTP_CONNECT_TIMEOUT": "1",
    "HTTP_READ_TIMEOUT": "1",
    "SEND_RETRY_WAIT": "0.2",
    "RETRY_BACKOFF_BASE": "0.5",
    "RETRY_BACKOFF_CAP": "5",
    "RETRY_AFTER_MAX": "5",
    "SWEEP_INTERVAL": "2",
    "PENDING_GRACE": "3",
    "DELIVERY_LEASE": "10",
    "BREAKER_COOLDOWN": "2",
}


@dataclass
class Shop:
    """A shop made for the run and the levels of its staff."""

    name: str
    staff: dict[str, str]  # user_uuid -> level


@dataclass
class Run:
    """What was posted and accepted."""

    expected: set[tuple[str, str]] = field(default_factory=set)
    alerts: int = 0
    post_retries: int = 0


def create_shops(api: str, shops: int, staff: int, rng: random.Random) -> list[Shop]:
    """Create the shops and their staff through the admin API."""
    created = []
    for number in range(shops):
        name = f"chaos-{uuid.uuid4().hex[:8]}-{number}"
        session.post(f"{api}/locations", json={"name": name}, timeout=10).raise_for_status()
        members = {}
        for _ in range(staff):
            level = rng.choice(["STANDARD", "STANDARD", "STANDARD", "CRITICAL"])
            response = session.post(f"{api}/users", json={"level": level, "locations": [name]}, timeout=10)
            response.raise_for_status()
            members[response.json()["user_uuid"]] = level
        created.append(Shop(name, members))
    return created


def post_alert(api: str, body: dict, run: Run, deadline: float) -> dict:
    """POST an alert until the API answers (it may be restarting), as a camera system would."""
    while True:
        try:
            response = session.post(f"{api}/webhooks/alerts", json=body, timeout=5)
            if response.status_code in (200, 201):
                return response.json()
            response.raise_for_status()
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        run.post_retries += 1
        time.sleep(0.2)


def post_alerts(api: str, shops: list[Shop], target: int, rate: float, run: Run, rng: random.Random) -> None:
    """Post alerts at `rate` per second until `target` deliveries are expected."""
    deadline = time.monotonic() + 600
    while len(run.expected) < target:
        shop = rng.choice(shops)
        label = rng.choice(["theft", "suspicious", "normal"])
        body = {
            "url": f"https://media.example.com/{uuid.uuid4()}.mp4",
            "location": shop.name,
            "alert_uuid": str(uuid.uuid4()),
            "label": label,
            "time_spotted": time.time(),
        }
        answer = post_alert(api, body, run, deadline)
        critical = answer["severity"] == "critical"
        for user_uuid, level in shop.staff.items():
            if critical or level == "STANDARD":
                run.expected.add((body["alert_uuid"], user_uuid))
        run.alerts += 1
        time.sleep(1 / rate)


def undrained(api: str) -> int:
    """How many deliveries are not yet sent, failed or expired."""
    return sum(
        session.get(f"{api}/deliveries", params={"status": status, "page_size": 1}, timeout=10).json()[
            "total"
        ]
        for status in NON_FINAL
    )


def count_status(api: str, status: str) -> int:
    """How many deliveries have this status."""
    return session.get(f"{api}/deliveries", params={"status": status, "page_size": 1}, timeout=10).json()[
        "total"
    ]


def metric_totals(api: str) -> Counter:
    """The counters a run moves, summed over their labels, as the API's /metrics shows them."""
    totals: Counter = Counter()
    text = session.get(f"{api}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "nootification_alerts_received_total":
                totals[f"alerts {sample.labels['outcome']}"] += sample.value
            elif sample.name == "nootification_deliveries_total":
                totals[sample.labels["outcome"]] += sample.value
            elif sample.name == "nootification_delivery_latency_from_receipt_seconds_count":
                totals["latency observations"] += sample.value
            elif sample.name == "nootification_delivery_attempts_total":
                totals[f"attempts {sample.labels['outcome']}"] += sample.value
    return totals


def metrics_disagree(
    totals: Counter, run: Run, final: dict[str, int], killed: int, api_killed: int
) -> list[str]:
    """Where the metrics and the database or the run disagree; a SIGKILLed process may miss one count."""
    checks = {
        "alerts created": (totals["alerts created"], run.alerts, api_killed),
        "sent": (totals["sent"], final["sent"], killed),
        "failed or expired": (
            totals["failed"] + totals["expired"],
            final["failed"] + final["expired"],
            killed,
        ),
        "latency observations": (totals["latency observations"], final["sent"], killed),
    }
    problems = [
        f"{name}: metrics {counted:.0f}, expected {expected}"
        for name, (counted, expected, slack) in checks.items()
        if abs(counted - expected) > slack
    ]
    if not totals["attempts transient"]:
        problems.append("no transient attempt counted although the stub failed requests")
    return problems


def chaos(stack: Stack, run: Run, poster: threading.Thread, target: int, faults_set: str) -> list[str]:
    """Inject the faults one after the other while the poster runs; return what was done, in order.

    A fault that lasts (a lock, a stall, the kills in turn) runs in a thread of its own while alerts keep
    coming; the next fault waits for it to end, and so does the drain. `faults_set` "restarts" keeps the
    worker SIGKILL, the Redis restart and the API restart only.
    """
    events = []
    restarts = [
        (
            0.15,
            "SIGKILL worker-0 and start it again",
            lambda: (stack.kill("worker-0"), stack.start_worker(0)),
        ),
        (0.30, "restart redis", lambda: stack.restart("redis")),
        (0.75, "restart the API", lambda: stack.restart("api")),
    ]
    lasting_faults = [
        (
            0.45,
            f"hold the database's write lock for {LOCK_SECONDS:g} s",
            lambda: faults.in_background(faults.hold_write_lock, stack, LOCK_SECONDS),
        ),
        (
            0.60,
            f"stop redis with SIGSTOP for {STALL_SECONDS:g} s",
            lambda: faults.in_background(faults.pause_redis, stack, STALL_SECONDS),
        ),
        (
            0.90,
            "SIGKILL " + ", ".join(faults.killed_in_turn(stack)) + " in turn, each started again",
            lambda: faults.in_background(faults.kill_in_turn, stack, KILL_PAUSE_SECONDS),
        ),
    ]
    steps = restarts if faults_set == "restarts" else sorted(restarts + lasting_faults, key=lambda s: s[0])
    lasting: threading.Thread | None = None
    for fraction, description, action in steps:
        while poster.is_alive() and len(run.expected) < fraction * target:
            time.sleep(0.05)
        if lasting is not None:
            lasting.join()
        outcome = action()
        lasting = outcome if isinstance(outcome, threading.Thread) else None
        events.append(f"{time.strftime('%H:%M:%S')} {description} (at {len(run.expected)} expected)")
    if lasting is not None:
        lasting.join()
    return events


def receipt_to_sent(database_url: str) -> dict[str, float]:
    """Seconds from an alert's receipt to each of its deliveries' sending: p50, p95 and the slowest."""
    engine = sa.create_engine(database_url)
    attempts, deliveries, alerts = DeliveryAttempt.__table__, Delivery.__table__, Alert.__table__
    query = (
        sa.select(alerts.c.received_at, attempts.c.finished_at)
        .join(deliveries, deliveries.c.alert_id == alerts.c.id)
        .join(attempts, attempts.c.delivery_id == deliveries.c.id)
        .where(attempts.c.outcome == AttemptOutcomeKind.SENT)
    )
    with engine.connect() as connection:
        seconds = sorted((sent - received).total_seconds() for received, sent in connection.execute(query))
    engine.dispose()
    if not seconds:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "p50": round(seconds[len(seconds) // 2], 2),
        "p95": round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))], 2),
        "max": round(seconds[-1], 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chaos scenario and report; exit 1 on any lost or duplicated notification."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries to cause (default 2000)")
    parser.add_argument("--rate", type=float, default=25.0, help="alerts posted per second (default 25)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--shops", type=int, default=20, help="shops to create (default 20)")
    parser.add_argument("--staff", type=int, default=10, help="staff per shop (default 10)")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the drain")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run and of the stub's failures")
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty database for the stack, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/chaos "
        "(default: a new SQLite file)",
    )
    parser.add_argument(
        "--faults",
        choices=("all", "restarts"),
        default="all",
        help="all: every fault (default); restarts: the worker SIGKILL, the Redis and the API restarts only",
    )
    options = parser.parse_args(argv)

    rng = random.Random(options.seed)
    stub_env = {
        "STUB_ERROR_RATE": "0.2",
        "STUB_RATE_LIMIT_RATE": "0.05",
        "STUB_RETRY_AFTER": "1",
        "STUB_HANG_RATE": "0.05",
        "STUB_HANG_SECONDS": "3",
        "STUB_SEED": str(options.seed),
    }
    settings = {**CHAOS_SETTINGS, **({"DATABASE_URL": options.database_url} if options.database_url else {})}
    with Stack(workers=options.workers, settings=settings, stub_env=stub_env) as stack:
        print(f"stack in {stack.directory}", file=sys.stderr)
        session.headers["Authorization"] = f"Bearer {stack.admin_token}"
        shops = create_shops(stack.api_url, options.shops, options.staff, rng)
        run = Run()
        started = time.monotonic()
        poster = threading.Thread(
            target=post_alerts,
            args=(stack.api_url, shops, options.deliveries, options.rate, run, rng),
            daemon=True,
        )
        poster.start()
        events = chaos(stack, run, poster, options.deliveries, options.faults)
        poster.join()
        posted = time.monotonic()

        drain_deadline = posted + options.drain_timeout
        while (left := undrained(stack.api_url)) and time.monotonic() < drain_deadline:
            time.sleep(0.5)
        drained = time.monotonic()

        messages = requests.get(f"{stack.stub_url}/messages", timeout=30).json()
        final = {status: count_status(stack.api_url, status) for status in ("sent", "failed", "expired")}
        totals = metric_totals(stack.api_url)
        disagreements = metrics_disagree(
            totals,
            run,
            final,
            killed=KILLED_COUNTING[options.faults],
            api_killed=int(options.faults == "all"),
        )
        latency = receipt_to_sent(stack.env["DATABASE_URL"])
        pairs = Counter((m["alert_uuid"], m["target_user_uuid"]) for m in messages["messages"])
        received = set(pairs)
        report = {
            "alerts posted": run.alerts,
            "alert POSTs retried": run.post_retries,
            "expected receipts": len(run.expected),
            "received": len(received & run.expected),
            "lost": len(run.expected - received),
            "extra": len(received - run.expected),
            "duplicated (pair received under two keys)": sum(1 for count in pairs.values() if count > 1),
            "raw duplicates (same key re-sent, absorbed by the provider)": messages["duplicates"],
            "expired": final["expired"],
            "failed": final["failed"],
            "alerts created (metrics)": int(totals["alerts created"]),
            "deliveries sent / failed / expired (metrics)": "{:.0f} / {:.0f} / {:.0f}".format(
                totals["sent"], totals["failed"], totals["expired"]
            ),
            "attempts sent / transient / permanent (metrics)": "{:.0f} / {:.0f} / {:.0f}".format(
                totals["attempts sent"], totals["attempts transient"], totals["attempts permanent"]
            ),
            "not drained": left,
            "posting time (s)": round(posted - started, 1),
            "time to drain after the last post (s)": round(drained - posted, 1),
            "receipt → sent p50 / p95 / max (s)": "{p50} / {p95} / {max}".format(**latency),
        }
    for event in events:
        print(event)
    width = max(map(len, report))
    for name, value in report.items():
        print(f"{name:<{width}}  {value}")
    for disagreement in disagreements:
        print(f"metrics disagree: {disagreement}")
    bad = (
        report["lost"]
        or report["extra"]
        or report["duplicated (pair received under two keys)"]
        or left
        or disagreements
    )
    print("FAILED" if bad else "OK")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
