"""Benchmark of the alert pipeline on a loopback stack: ingest, fan-out, steady state and the direct limit.

Starts redis-server, the API under gunicorn, K `flask worker`s, the scheduler and the stub provider under
gunicorn on free 127.0.0.1 ports, runs every scenario in one go, prints one table with each target's
PASS/MISS, and writes results.json and results.png (latency CDFs, receipts/s over time) to --out.

For each --provider-latency (the stub answers after that many ms, set through its /control):
  fan-out  one alert to --fanout recipients: time to the last receipt at the stub
  limit    --fanout POSTs straight to the stub with PushSender.send on K × --worker-concurrency threads
  steady   --steady-rate alerts/s × --steady-recipients for --steady-duration s: alert → receipt, backlog
  ladder   the same steady load again, and meanwhile LADDER_RATE critical alerts/s to a shop whose ladder
           pushes LADDER_WAIT s after receipt: how long after its due time each step reached the stub
  burst    the same steady load again, and meanwhile BURSTS bursts of BURST_SIZE thefts at a shop that groups
           them over BURST_WINDOW s: each burst's first alert to each member, and the messages each gets
Then once, at the lowest latency:
  backfill the steady load again, and meanwhile BATCH_RATE batches/s of BATCH_SIZE alerts spotted a day ago
           (POST /webhooks/alerts/batch: stored, paging nobody): the batches' POST latency, the API's CPU per
           alert, and the steady receipts beside them
  ingest   POST /webhooks/alerts, open loop at each --rates for --ingest-duration s (one recipient per alert)
"""

import argparse
import logging
import os
import shlex
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import requests
from redis import Redis
from rq import Queue

from bench import report
from bench.load import Answer, JsonClient, LoadRun, open_loop
from bench.sampling import Sampler, StackProcesses, busy_cores, peak_rss
from bench.sql_count import INTERVAL as SQL_COUNT_INTERVAL
from bench.sql_count import read_counts
from bench.stack import ROOT, STUB_THREADS, Stack
from nootification.config import Config
from nootification.redis_connection import connect
from nootification.senders.base import Message, SendError
from nootification.senders.push import PushSender

log = logging.getLogger(__name__)
T = TypeVar("T")

ALERTS = "/webhooks/alerts"
CREATED = (201,)
ADMIN_THREADS = 8
BUSY_WARNING = 0.2
BACKLOG_INTERVAL = 0.1
RSS_INTERVAL = 0.25
POLL_INTERVAL = 0.1
FANOUT_POST_TIMEOUT = 120.0
# The ladder scenario: critical alerts per second, the wait of their ladder's second step, and its client.
LADDER_RATE = 2.0
LADDER_WAIT = 2.0
LADDER_CLIENT_THREADS = 4
# Bursts at a shop that groups them: BURSTS bursts of BURST_SIZE thefts BURST_SPACING s apart, each in its own
# window of BURST_WINDOW s. Fewer bursts than the cap per person (MAX_MESSAGES_PER_PERSON, 6 per 10 minutes),
# which would hold a later burst's first alert into its summary.
BURST_WINDOW = 2
BURSTS = 4
BURST_SIZE = 10
BURST_SPACING = 0.1
# A vendor's backfill beside the steady load: BATCH_RATE batches/s of BATCH_SIZE alerts spotted BACKFILL_AGE s
# ago (stale on arrival: stored, paging nobody), to the ingest shop.
BATCH_RATE = 10.0
BATCH_SIZE = 100
BACKFILL_AGE = 24 * 3600
BATCH_CLIENT_THREADS = 8
# A delivery's last writes follow its receipt at the stub, and each process rewrites its SQL count every
# SQL_COUNT_INTERVAL: counters are read this long after a scenario ends.
SETTLE = 3 * SQL_COUNT_INTERVAL
DEFAULT_OUT = ROOT / "bench" / "results"
ENV_HELP = "a setting for every process of the stack (e.g. DATABASE_URL=...); repeatable"
CONCURRENCY_SETTING = "WORKER_CONCURRENCY"
SENDER_SETTINGS = ("HTTP_CONNECT_TIMEOUT", "HTTP_READ_TIMEOUT", "SEND_MAX_ATTEMPTS", "SEND_RETRY_WAIT")


class BenchError(Exception):
    """The stack did not behave well enough to be measured."""


@dataclass(frozen=True)
class Counters:
    """The stack's cumulative counters at one instant: CPU seconds, Redis calls by command, SQL statements."""

    cpu: dict[str, float]
    redis: dict[str, int]
    own_redis: dict[str, int]  # the calls among `redis` the bench made itself
    sql: dict[str, int]
    at: float


@dataclass(frozen=True)
class Shops:
    """The shops the scenarios alert: one of --fanout members, one of --steady-recipients, one of one."""

    fanout: str
    steady: str
    ingest: str
    ladder: str


@dataclass
class Bench:
    """The running stack, the options, and what each scenario cost: CPU, Redis commands, SQL statements."""

    stack: Stack
    options: argparse.Namespace
    redis: Redis
    queue_key: str
    processes: StackProcesses
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    redis_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    sql: dict[str, dict[str, int]] = field(default_factory=dict)
    # The Redis commands the bench sent itself (INFO, LLEN), left out of the stack's.
    own_redis: Counter[str] = field(default_factory=Counter)
    # Wall-clock start and end of each provider latency's scenarios, for its peak RSS.
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def api(self) -> str:
        """The API's base URL."""
        return self.stack.api_url

    @property
    def stub(self) -> str:
        """The stub provider's base URL."""
        return self.stack.stub_url

    def client(self, timeout: float = 10.0) -> JsonClient:
        """A JSON client of the API, authenticated with the stack's admin token."""
        return JsonClient(self.api, timeout=timeout, token=self.stack.admin_token)

    def queue_length(self) -> int:
        """How many jobs wait in the delivery queue now."""
        self.own_redis["llen"] += 1
        return self.redis.llen(self.queue_key)

    def counters(self) -> Counters:
        """Read the stack's cumulative counters now."""
        own = dict(self.own_redis)
        # Redis counts a command once it has run, so this INFO shows in the next reading, not in its own.
        stats = self.redis.info("commandstats")
        self.own_redis["info"] += 1
        return Counters(
            cpu=self.processes.cpu_seconds(),
            redis={name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()},
            own_redis=own,
            sql=read_counts(self.stack.sql_directory) if self.stack.sql_directory else {},
            at=time.monotonic(),
        )

    def measure(self, name: str, scenario: Callable[[], T]) -> T:
        """Run `scenario`, keeping what it cost: CPU by component, Redis commands and SQL statements."""
        before = self.counters()
        outcome = scenario()
        time.sleep(SETTLE)
        after = self.counters()
        used = {key: after.cpu[key] - before.cpu.get(key, 0.0) for key in after.cpu}
        ours = {"workers": _workers_sum(used)}
        ours |= {key: used.get(key, 0.0) for key in ("api", "stub", "redis", "scheduler", "bench")}
        # Other processes on the machine (another test run, say) take cores from the stack: shown, not hidden.
        others = max(0.0, used["machine"] - sum(ours.values()))
        wall = after.at - before.at
        self.cpu[name] = {
            key: round(value, 2) for key, value in (ours | {"others": others, "wall": wall}).items()
        }
        own = Counter(after.own_redis) - Counter(before.own_redis)
        calls = {key: value - before.redis.get(key, 0) - own[key] for key, value in after.redis.items()}
        self.redis_calls[name] = {key: value for key, value in sorted(calls.items()) if value}
        if after.sql:
            sql = {key: value - before.sql.get(key, 0) for key, value in after.sql.items()}
            self.sql[name] = {
                "api": sql.get("api", 0),
                "workers": _workers_sum(sql),
                "scheduler": sql.get("scheduler", 0),
            }
        return outcome

    def cpu_ms(self, scenario: str, component: str, count: int) -> float | None:
        """CPU ms `component` spent per item in `scenario`: a cost that other load hardly changes."""
        return round(self.cpu[scenario][component] * 1000 / count, 1) if count else None

    def redis_per_item(self, scenario: str, count: int) -> float | None:
        """Redis commands the whole stack sent per item in `scenario`, the bench's own left out."""
        return round(sum(self.redis_calls[scenario].values()) / count, 1) if count else None

    def sql_per_item(self, scenario: str, count: int) -> float | None:
        """SQL statements the whole stack sent per item in `scenario`; None when they were not counted."""
        if scenario not in self.sql or not count:
            return None
        return round(sum(self.sql[scenario].values()) / count, 1)

    def per_delivery(self, scenario: str, count: int) -> dict[str, float | None]:
        """What each of `count` deliveries cost in `scenario`: worker CPU, Redis commands, SQL statements."""
        return {
            "worker_cpu_ms_per_delivery": self.cpu_ms(scenario, "workers", count),
            "redis_commands_per_delivery": self.redis_per_item(scenario, count),
            "sql_statements_per_delivery": self.sql_per_item(scenario, count),
        }


def total_concurrency(options: argparse.Namespace) -> int:
    """Sends the workers have in flight at most: worker processes × WORKER_CONCURRENCY."""
    return options.workers * options.worker_concurrency


def _workers_sum(used: Mapping[str, float]) -> float:
    return sum(value for key, value in used.items() if key.startswith("worker-"))


def alert_body(location: str) -> dict:
    """A theft alert (critical: every member of staff hears of it) with a fresh uuid, spotted now."""
    alert_uuid = str(uuid.uuid4())
    return {
        "url": f"https://media.example.com/{alert_uuid}.mp4",
        "location": location,
        "alert_uuid": alert_uuid,
        "label": "theft",
        "time_spotted": time.time(),
    }


def _expect(answer: Answer, status: int, what: str) -> dict:
    if answer[0] != status:
        raise BenchError(f"{what}: answered {answer[0]}, expected {status}: {answer[1]}")
    return answer[1]


def create_shop(client: JsonClient, staff: int, group_window: int = 0) -> str:
    """Create a shop and `staff` members of it through the admin API; return the shop's name. Its grouping
    window is 0 unless told: every alert rings, as the throughput scenarios count."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "group_window_seconds": group_window}
    _expect(client.post("/locations", body), 201, "POST /locations")
    with ThreadPoolExecutor(ADMIN_THREADS) as pool:
        answers = pool.map(
            lambda _: client.post("/users", {"level": "STANDARD", "locations": [name]}), range(staff)
        )
        for answer in answers:
            _expect(answer, 201, "POST /users")
    return name


def create_ladder_shop(client: JsonClient, staff: int) -> str:
    """A shop of `staff` members whose ladder reaches them by push only at its second step, LADDER_WAIT s
    after an alert (its first step's email reaches nobody: they have no email)."""
    name = create_shop(client, staff)
    ladder = [
        {"after_seconds": 0, "channels": ["email"]},
        {"after_seconds": LADDER_WAIT, "channels": ["push"]},
    ]
    _expect(client.patch(f"/locations/{name}", {"ladder": ladder}), 200, "PATCH /locations ladder")
    return name


def clear_stub(stub: str) -> None:
    """Make the stub forget every message it received."""
    requests.delete(f"{stub}/messages", timeout=30).raise_for_status()


def set_provider_latency(stub: str, milliseconds: float) -> None:
    """Make the stub answer every POST `milliseconds` after it arrives, from now on."""
    response = requests.put(f"{stub}/control", json={"latency": milliseconds / 1000}, timeout=10)
    response.raise_for_status()
    if response.json()["settings"]["latency"] != milliseconds / 1000:
        raise BenchError(f"the stub did not take a latency of {milliseconds:g} ms: {response.text}")


def stub_messages(stub: str) -> list[dict]:
    """Every message the stub received since it was last cleared."""
    response = requests.get(f"{stub}/messages", timeout=60)
    response.raise_for_status()
    return response.json()["messages"]


def wait_for_receipts(stub: str, expected: int, timeout: float) -> bool:
    """Wait until the stub holds at least `expected` messages; False if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while requests.get(f"{stub}/control", timeout=10).json()["counters"]["count"] < expected:
        if time.monotonic() > deadline:
            log.warning("the stub did not receive %d messages within %.0f s", expected, timeout)
            return False
        time.sleep(POLL_INTERVAL)
    return True


def delivery_count(run: LoadRun) -> int:
    """How many deliveries the alerts the API accepted in `run` made."""
    return sum(shot.body["delivery_count"] for shot in run.answered(CREATED))


def warm_up(bench: Bench, shop: str) -> None:
    """One alert through the whole pipeline, so no scenario pays for first imports and connections."""
    client = bench.client()
    answer = _expect(client.post(ALERTS, alert_body(shop)), 201, "warm-up alert")
    client.close()
    wait_for_receipts(bench.stub, answer["delivery_count"], bench.options.drain_timeout)
    clear_stub(bench.stub)


def run_ingest(bench: Bench, rate: float, shop: str) -> dict:
    """POST alerts open loop at `rate`/s, then wait for their deliveries so the next rate starts unloaded."""
    options = bench.options
    clear_stub(bench.stub)
    client = bench.client()
    run = open_loop(
        lambda: client.post(ALERTS, alert_body(shop)),
        rate=rate,
        duration=options.ingest_duration,
        concurrency=options.concurrency,
    )
    client.close()
    backlog = bench.queue_length()
    wait_for_receipts(bench.stub, delivery_count(run), options.drain_timeout)
    answered = run.answered(CREATED)
    return {
        "rate": rate,
        "duration_s": options.ingest_duration,
        **run.counts(CREATED),
        "achieved_per_s": round(len(answered) / run.elapsed, 1),
        **report.latency_ms([shot.latency for shot in answered]),
        "backlog_at_end": backlog,
    }


def run_fanout(bench: Bench, shop: str) -> tuple[dict, dict]:
    """One alert to every member of `shop`: from its POST to the last receipt at the stub."""
    clear_stub(bench.stub)
    body = alert_body(shop)
    client = bench.client(timeout=FANOUT_POST_TIMEOUT)
    posted = time.time()
    answer = _expect(client.post(ALERTS, body), 201, "fan-out alert")
    answered = time.time()
    client.close()
    wait_for_receipts(bench.stub, answer["delivery_count"], bench.options.drain_timeout)
    receipts = sorted(
        message["received_at"] - posted
        for message in stub_messages(bench.stub)
        if message["alert_uuid"] == body["alert_uuid"]
    )
    summary = {
        "recipients": bench.options.fanout,
        "expected": answer["delivery_count"],
        "received": len(receipts),
        "post_ms": round((answered - posted) * 1000, 1),
        "first_receipt_s": round(receipts[0], 3) if receipts else None,
        "last_receipt_s": round(receipts[-1], 3) if receipts else None,
        **report.latency_ms(receipts, prefix="receipt_"),
        "deliveries_per_s": report.receipt_rate(receipts),
    }
    return summary, series(receipts, receipts)


def series(latencies: list[float], receipts: list[float]) -> dict[str, list[float]]:
    """What the plot needs: latencies in ms and receipt times in s since the scenario started, to 0.1 ms."""
    return {
        "latency_ms": [round(latency * 1000, 1) for latency in latencies],
        "receipts_s": [round(receipt, 4) for receipt in receipts],
    }


def sender_config(stub: str) -> dict:
    """The settings a worker's PushSender gets, pointed at the stub."""
    return {"THIRD_PARTY_URL": stub} | {name: getattr(Config, name) for name in SENDER_SETTINGS}


def direct_message(alert_uuid: str) -> Message:
    """A push message as a worker would build it, with its own delivery id (the stub's idempotency key)."""
    return Message(
        delivery_id=str(uuid.uuid4()),
        user_uuid=str(uuid.uuid4()),
        address=None,
        alert_uuid=alert_uuid,
        url=f"https://media.example.com/{alert_uuid}.mp4",
        location="bench-direct",
        label="theft",
        severity="critical",
        time_spotted=time.time(),
    )


def run_limit(bench: Bench, count: int) -> tuple[dict, dict]:
    """`count` POSTs straight to the stub with the push sender's own code, as many at once as the workers."""
    clear_stub(bench.stub)
    config = sender_config(bench.stub)
    alert_uuid = str(uuid.uuid4())
    messages = [direct_message(alert_uuid) for _ in range(count)]
    senders = threading.local()  # one sender, so one HTTP session, per thread, as each worker has its own

    def send(message: Message) -> bool:
        if not hasattr(senders, "sender"):
            senders.sender = PushSender(config)
        try:
            senders.sender.send(message)
        except SendError:
            return False
        return True

    threads = total_concurrency(bench.options)
    started = time.time()
    with ThreadPoolExecutor(threads) as pool:
        sent = sum(pool.map(send, messages))
    elapsed = time.time() - started
    wait_for_receipts(bench.stub, sent, bench.options.drain_timeout)
    receipts = sorted(
        m["received_at"] - started for m in stub_messages(bench.stub) if m["alert_uuid"] == alert_uuid
    )
    summary = {
        "posts": count,
        "threads": threads,
        "errors": count - sent,
        "received": len(receipts),
        "wall_s": round(elapsed, 3),
        "deliveries_per_s": report.receipt_rate(receipts),
    }
    return summary, {"receipts_s": [round(r, 4) for r in receipts]}


def run_steady(bench: Bench, shop: str) -> tuple[dict, dict]:
    """Alerts open loop at --steady-rate to a shop of --steady-recipients, sampling the queue's backlog."""
    options = bench.options
    clear_stub(bench.stub)
    client = bench.client()
    with Sampler(bench.queue_length, BACKLOG_INTERVAL) as backlog:
        run = open_loop(
            lambda: client.post(ALERTS, alert_body(shop)),
            rate=options.steady_rate,
            duration=options.steady_duration,
            concurrency=options.concurrency,
        )
        posting_ended = time.time()
        expected = delivery_count(run)
        wait_for_receipts(bench.stub, expected, options.drain_timeout)
    client.close()
    posted_at = {shot.body["alert_uuid"]: shot.due_wall for shot in run.answered(CREATED)}
    start = run.shots[0].due_wall
    messages = [m for m in stub_messages(bench.stub) if m["alert_uuid"] in posted_at]
    latencies = sorted(m["received_at"] - posted_at[m["alert_uuid"]] for m in messages)
    receipts = sorted(m["received_at"] - start for m in messages)
    while_posting = [(moment, length) for moment, length in backlog.samples if moment <= posting_ended]
    queued = [length for _, length in while_posting]
    summary = {
        "alerts_per_s": options.steady_rate,
        "recipients": options.steady_recipients,
        "duration_s": options.steady_duration,
        **run.counts(CREATED),
        "post_p99_ms": report.latency_ms([shot.latency for shot in run.answered(CREATED)])["p99_ms"],
        "expected": expected,
        "received": len(messages),
        **report.latency_ms(latencies, prefix="receipt_"),
        "offered_deliveries_per_s": options.steady_rate * options.steady_recipients,
        "deliveries_per_s": report.receipt_rate(receipts),
        "backlog_max": max(queued),
        "backlog_mean": round(statistics.fmean(queued), 1),
        "backlog_at_end": queued[-1],
        "backlog_growth_per_s": growth(while_posting),
    }
    return summary, series(latencies, receipts)


def run_ladder(bench: Bench, shops: Shops) -> dict:
    """The steady load again, with LADDER_RATE critical alerts/s to the ladder shop meanwhile: how long after
    its due time (LADDER_WAIT s after the alert was posted) each step's push reached the stub."""
    options = bench.options
    clear_stub(bench.stub)
    load_client, ladder_client = bench.client(), bench.client()
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(
            open_loop,
            lambda: load_client.post(ALERTS, alert_body(shops.steady)),
            rate=options.steady_rate,
            duration=options.steady_duration,
            concurrency=options.concurrency,
        )
        run = open_loop(
            lambda: ladder_client.post(ALERTS, alert_body(shops.ladder)),
            rate=LADDER_RATE,
            duration=options.steady_duration,
            concurrency=LADDER_CLIENT_THREADS,
        )
        background = load.result()
    wait_for_receipts(
        bench.stub, delivery_count(run) + delivery_count(background), options.drain_timeout + LADDER_WAIT
    )
    load_client.close()
    ladder_client.close()
    # From when each alert was due to be posted: a POST's own time counts as lateness, never against it.
    accepted = {shot.body["alert_uuid"]: shot.due_wall for shot in run.answered(CREATED)}
    late = [
        message["received_at"] - accepted[message["alert_uuid"]] - LADDER_WAIT
        for message in stub_messages(bench.stub)
        if message["alert_uuid"] in accepted
    ]
    return {
        "alerts": len(accepted),
        "steps_expected": delivery_count(run),
        "steps_received": len(late),
        "wait_s": LADDER_WAIT,
        **report.latency_ms(late, prefix="late_"),
    }


def run_burst(bench: Bench, shops: Shops) -> dict:
    """The steady load again, with bursts of thefts meanwhile at a new shop that groups them: how long each
    burst's first alert takes to reach each member (grouping must not slow it), and how many messages each
    member gets per burst (the first, then one summary)."""
    options = bench.options
    admin = bench.client()
    shop = create_shop(admin, options.steady_recipients, group_window=BURST_WINDOW)
    admin.close()
    clear_stub(bench.stub)
    load_client, burst_client = bench.client(), bench.client()
    firsts: dict[str, float] = {}
    expected = 0
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(
            open_loop,
            lambda: load_client.post(ALERTS, alert_body(shops.steady)),
            rate=options.steady_rate,
            duration=BURSTS * (BURST_WINDOW + 1),
            concurrency=options.concurrency,
        )
        for _ in range(BURSTS):
            for number in range(BURST_SIZE):
                body, posted = alert_body(shop), time.time()
                answer = _expect(burst_client.post(ALERTS, body), 201, "burst alert")
                if number == 0:
                    firsts[body["alert_uuid"]] = posted
                    # Its deliveries, then the summary of the others to each member on push.
                    expected += answer["delivery_count"] + options.steady_recipients
                time.sleep(BURST_SPACING)
            time.sleep(BURST_WINDOW + 1 - BURST_SIZE * BURST_SPACING)
        background = load.result()
    wait_for_receipts(bench.stub, expected + delivery_count(background), options.drain_timeout + BURST_WINDOW)
    load_client.close()
    burst_client.close()
    per_person: dict[tuple[str, str], list[float]] = {}
    for message in stub_messages(bench.stub):
        if message["alert_uuid"] in firsts:
            key = (message["alert_uuid"], message["target_user_uuid"])
            per_person.setdefault(key, []).append(message["received_at"] - firsts[message["alert_uuid"]])
    first_receipts = [min(receipts) for receipts in per_person.values()]
    return {
        "bursts": len(firsts),
        "alerts": len(firsts) * BURST_SIZE,
        "window_s": BURST_WINDOW,
        "messages_expected": expected,
        "messages_received": sum(len(receipts) for receipts in per_person.values()),
        "most_per_person": max((len(receipts) for receipts in per_person.values()), default=0),
        **report.latency_ms(first_receipts, prefix="first_"),
    }


def backfill_body(shop: str) -> dict:
    """A batch of BATCH_SIZE thefts spotted a day ago at `shop`, each with a fresh uuid."""
    spotted = time.time() - BACKFILL_AGE
    return {"alerts": [{**alert_body(shop), "time_spotted": spotted} for _ in range(BATCH_SIZE)]}


def run_backfill(bench: Bench, shops: Shops) -> dict:
    """The steady scenario again, with a vendor's backfill meanwhile: batches of old alerts at BATCH_RATE/s
    (POST /webhooks/alerts/batch). Their POST latency, and the steady state's receipts beside them."""
    options = bench.options
    batch_client = bench.client(timeout=FANOUT_POST_TIMEOUT)
    with ThreadPoolExecutor(1) as pool:
        batches = pool.submit(
            open_loop,
            lambda: batch_client.post(f"{ALERTS}/batch", backfill_body(shops.ingest)),
            rate=BATCH_RATE,
            duration=options.steady_duration,
            concurrency=BATCH_CLIENT_THREADS,
        )
        steady, _ = run_steady(bench, shops.steady)
        run = batches.result()
    batch_client.close()
    answered = run.answered((200,))
    stored = sum(1 for shot in answered for result in shot.body["results"] if result["status"] == 201)
    return {
        "batches": len(answered),
        "alerts_stored": stored,
        **run.counts((200,)),
        **report.latency_ms([shot.latency for shot in answered], prefix="batch_"),
        "steady_receipt_p99_ms": steady["receipt_p99_ms"],
        "steady_alerts": steady["ok"],
    }


def growth(samples: list[tuple[float, int]]) -> float | None:
    """How fast the backlog grew while posting, in jobs/s: the least-squares slope of its samples."""
    if len({moment for moment, _ in samples}) < 2:
        return None
    moments, lengths = zip(*samples, strict=True)
    return round(statistics.linear_regression(moments, lengths).slope, 2)


def rss_summary(samples: list) -> dict:
    """Peak RSS in MB: the API's processes summed and its largest one; each worker; the other processes."""
    peaks = peak_rss(samples)
    workers = {
        name: round(peak["total_mb"], 1) for name, peak in sorted(peaks.items()) if name.startswith("worker-")
    }
    return {
        "api_total_mb": round(peaks["api"]["total_mb"], 1),
        "api_largest_mb": round(peaks["api"]["largest_process_mb"], 1),
        "api_processes": peaks["api"]["processes"],
        "workers_mb": workers,
        "worker_peak_mb": max(workers.values()),
        **{f"{name}_mb": round(peaks[name]["total_mb"], 1) for name in ("stub", "redis", "scheduler")},
    }


def create_shops(bench: Bench) -> Shops:
    """The three shops of the scenarios, each with its members of staff."""
    options = bench.options
    log.info("creating shops: %d + %d + 1 members of staff", options.fanout, options.steady_recipients)
    admin = bench.client()
    shops = Shops(
        fanout=create_shop(admin, options.fanout),
        steady=create_shop(admin, options.steady_recipients),
        ingest=create_shop(admin, 1),
        ladder=create_ladder_shop(admin, options.steady_recipients),
    )
    admin.close()
    return shops


def latency_key(latency: float) -> str:
    """How the results name a provider latency: its milliseconds, "1" or "100"."""
    return f"{latency:g}"


def run_at_latency(bench: Bench, latency: float, shops: Shops) -> tuple[dict, dict]:
    """With the stub answering after `latency` ms: fan-out, the direct limit, then steady state."""
    options, key = bench.options, latency_key(latency)
    set_provider_latency(bench.stub, latency)
    started = time.time()
    log.info("provider latency %g ms, fan-out: one alert to %d recipients", latency, options.fanout)
    name = f"fan-out @ {key} ms"
    fanout, fanout_series = bench.measure(name, lambda: run_fanout(bench, shops.fanout))
    fanout |= bench.per_delivery(name, fanout["received"])
    log.info("limit: %d POSTs straight to the stub on %d threads", options.fanout, total_concurrency(options))
    limit, limit_series = bench.measure(f"limit @ {key} ms", lambda: run_limit(bench, options.fanout))
    ours, direct = fanout["deliveries_per_s"], limit["deliveries_per_s"]
    limit["ours_per_s"] = ours
    limit["ratio"] = round(ours / direct, 3) if ours and direct else None
    log.info(
        "steady: %g alerts/s × %d for %g s",
        options.steady_rate,
        options.steady_recipients,
        options.steady_duration,
    )
    name = f"steady @ {key} ms"
    steady, steady_series = bench.measure(name, lambda: run_steady(bench, shops.steady))
    steady |= bench.per_delivery(name, steady["received"])
    steady["api_cpu_ms_per_alert"] = bench.cpu_ms(name, "api", steady["ok"])
    log.info("ladder: %g alerts/s with a step %g s later, under the steady load", LADDER_RATE, LADDER_WAIT)
    ladder = bench.measure(f"ladder @ {key} ms", lambda: run_ladder(bench, shops))
    log.info(
        "burst: %d bursts of %d thefts at a shop grouping them, under the steady load", BURSTS, BURST_SIZE
    )
    burst = bench.measure(f"burst @ {key} ms", lambda: run_burst(bench, shops))
    bench.windows[key] = (started, time.time())
    section = {"fanout": fanout, "limit": limit, "steady": steady, "ladder": ladder, "burst": burst}
    return section, {"fanout": fanout_series, "steady": steady_series, "limit": limit_series}


def run_scenarios(bench: Bench) -> dict:
    """Create the data, warm up, then each provider latency's scenarios, then ingest at the lowest latency."""
    options = bench.options
    shops = create_shops(bench)
    warm_up(bench, shops.ingest)
    by_latency, all_series = {}, {}
    for latency in options.provider_latency:
        key = latency_key(latency)
        by_latency[key], all_series[key] = run_at_latency(bench, latency, shops)
    set_provider_latency(bench.stub, min(options.provider_latency))
    log.info("backfill: %g batches/s of %d old alerts beside the steady load", BATCH_RATE, BATCH_SIZE)
    backfill = bench.measure("backfill", lambda: run_backfill(bench, shops))
    alerts = backfill["alerts_stored"] + backfill["steady_alerts"]
    backfill["api_cpu_ms_per_alert"] = bench.cpu_ms("backfill", "api", alerts)
    ingest = {}
    for rate in options.rates:
        log.info("ingest: %g alerts/s for %g s", rate, options.ingest_duration)
        name = f"ingest {rate:g}/s"
        ingest[f"{rate:g}"] = bench.measure(name, lambda rate=rate: run_ingest(bench, rate, shops.ingest))
        ingest[f"{rate:g}"]["api_cpu_ms_per_alert"] = bench.cpu_ms(name, "api", ingest[f"{rate:g}"]["ok"])
    return {"ingest": ingest, "backfill": backfill, "by_latency": by_latency, "series": all_series}


def meta(options: argparse.Namespace, argv: list[str]) -> dict:
    """When, how and on what the bench ran, and how busy the machine was before it started."""
    busy = busy_cores()
    if busy > BUSY_WARNING:
        log.warning("other processes keep %.1f cores busy: the figures will be pessimistic", busy)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "bench.bench", *argv]),
        "workers": options.workers,
        "worker_concurrency": options.worker_concurrency,
        "total_concurrency": total_concurrency(options),
        "stub_threads": stub_threads(options),
        "provider_latencies_ms": options.provider_latency,
        "ingest_provider_latency_ms": min(options.provider_latency),
        "api_workers": options.api_workers,
        "api_threads": options.api_threads,
        "cpus": os.cpu_count(),
        "busy_cores_before": round(busy, 2),
        "python": sys.version.split()[0],
        "env": dict(options.env),
    }


def stub_threads(options: argparse.Namespace) -> int:
    """Threads enough for the stub to answer every send of the workers, or of the direct limit, at once."""
    return max(STUB_THREADS, 2 * total_concurrency(options))


def bench_stack(options: argparse.Namespace) -> dict:
    """Start the stack, run every scenario while sampling memory, stop the stack; return the results."""
    stack = Stack(
        workers=options.workers,
        api_workers=options.api_workers,
        api_threads=options.api_threads,
        settings={CONCURRENCY_SETTING: str(options.worker_concurrency), **dict(options.env)},
        stub_threads=stub_threads(options),
        count_sql=True,
    )
    with stack:
        log.info("stack up in %s: api %s, stub %s", stack.directory, stack.api_url, stack.stub_url)
        queue_name = stack.env.get("RQ_QUEUE_NAME", Config.RQ_QUEUE_NAME)
        redis = connect(stack.redis_url)
        processes = StackProcesses(stack)
        bench = Bench(stack, options, redis, Queue(queue_name, connection=redis).key, processes)
        with Sampler(processes.rss, RSS_INTERVAL) as memory:
            results = run_scenarios(bench)
        redis.close()
        # An idle `flask worker` restarts itself on SIGTERM (RQ raises StopRequested without setting
        # _stop_requested), so a clean stop waits out Stack.stop's timeout; no job is in flight by now.
        for index in range(stack.worker_count):
            stack.kill(f"worker-{index}")
    for key, (started, ended) in bench.windows.items():
        window = [sample for sample in memory.samples if started <= sample[0] <= ended]
        results["by_latency"][key]["rss"] = rss_summary(window)
    costs = {"cpu": bench.cpu, "redis_commands": bench.redis_calls, "sql_statements": bench.sql}
    return results | {"rss": rss_summary(memory.samples)} | costs


def _rates(text: str) -> list[float]:
    rates = [float(rate) for rate in text.split(",") if rate.strip()]
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError("a comma-separated list of positive rates, e.g. 50,200,500")
    return rates


def _latencies(text: str) -> list[float]:
    try:
        latencies = [float(latency) for latency in text.split(",") if latency.strip()]
    except ValueError:
        latencies = []
    if not latencies or min(latencies) < 0 or len(set(latencies)) < len(latencies):
        raise argparse.ArgumentTypeError("a comma-separated list of distinct milliseconds >= 0, e.g. 1,100")
    return latencies


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("a whole number >= 1")
    return number


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError("NAME=VALUE")
    return name, value


class ArgumentDefaultsRawDescriptionHelpFormatter(
    argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter
):
    """Help that shows each default and keeps the description's layout."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; every size and duration has a default that makes the full bench."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench",
        description=__doc__,
        formatter_class=ArgumentDefaultsRawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("-k", "--workers", type=int, default=2, metavar="K", help="`flask worker` processes")
    add(
        "--worker-concurrency",
        type=_positive,
        default=32,
        metavar="N",
        help=f"sends in flight per worker ({CONCURRENCY_SETTING}); the limit runs on K × N threads",
    )
    add(
        "--provider-latency",
        type=_latencies,
        default="1,100",
        metavar="MS[,MS]",
        help="the stub answers after MS ms; fan-out, limit and steady state run once per latency",
    )
    add("--api-workers", type=int, default=2, metavar="N", help="API gunicorn workers")
    add("--api-threads", type=int, default=4, metavar="N", help="threads per API worker")
    add("--rates", type=_rates, default="50,200,500", metavar="R,R,...", help="ingest alerts/s")
    add("--ingest-duration", type=float, default=10.0, metavar="S", help="seconds per ingest rate")
    add("--fanout", type=int, default=1000, metavar="N", help="recipients of the fan-out alert")
    add("--steady-rate", type=float, default=20.0, metavar="R", help="steady-state alerts/s")
    add("--steady-recipients", type=int, default=10, metavar="N", help="recipients per steady alert")
    add("--steady-duration", type=float, default=30.0, metavar="S", help="seconds of steady state")
    add("--concurrency", type=int, default=64, metavar="N", help="threads of the open-loop client")
    add("--drain-timeout", type=float, default=300.0, metavar="S", help="most seconds to wait for receipts")
    add("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="for results.json and results.png")
    add("--env", type=_setting, action="append", default=[], metavar="NAME=VALUE", help=ENV_HELP)
    options = parser.parse_args(argv)
    if CONCURRENCY_SETTING in dict(options.env):
        parser.error(f"set {CONCURRENCY_SETTING} with --worker-concurrency: it also sizes the direct limit")
    return options


def main(argv: list[str] | None = None) -> int:
    """Run the bench, print the table, write the JSON and the plot."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    options.out.mkdir(parents=True, exist_ok=True)
    try:
        results = {"meta": meta(options, argv)} | bench_stack(options)
    except BenchError as error:
        log.error("the bench stopped: %s", error)
        return 1
    results = {"meta": results["meta"], "summary": report.summary(results["by_latency"])} | results
    results["targets"] = report.judge(results)
    json_path, png_path = options.out / "results.json", options.out / "results.png"
    report.plot(results["series"], png_path)
    report.write_json(results, json_path)
    print(report.render_table(results))
    print(f"\n{json_path}\n{png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
