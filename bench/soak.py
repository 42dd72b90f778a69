"""Soak: an hour at 20 alerts/s × 10 staff, the provider answering after 100 ms, a fault every window.

Alerts go open loop to one shop of --staff members (each hears on push, whose provider takes an idempotency
key), a camera's way: a POST the API does not answer is sent again, same alert, until it is. The run is cut
into windows (--window-minutes, shorter for a short run so it keeps five); every window but the first, which
warms up, starts with the next fault in turn: worker-0 SIGKILLed and started again, a Redis restart, Redis
stopped (SIGSTOP) for 20 s, the database's write lock held for 15 s, 30% of the provider's answers 500 for a
minute (a third of a window at most), an API restart. Per window, of the alerts posted in it: how many, their
deliveries at the stub, those lost, those sent twice at the provider (two messages, each under its own key;
a repeat under the same key is absorbed and counted apart), alert → receipt p50 / p99 and the p99 of the
alerts posted clear of the fault (30 s after it ended); and meanwhile the workers' and the API's RSS and open
descriptors, Redis's used_memory, the database's size and the queue's backlog. Writes results.json (with a
`summary`) and results.png to --out; exits 1 when a notification was lost or sent twice.
"""

import argparse
import http.client
import itertools
import logging
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests
import sqlalchemy as sa
from redis import RedisError
from rq import Queue

from bench import chaos, faults, report, soak_report
from bench.bench import (
    ALERTS,
    alert_body,
    clear_stub,
    create_shop,
    set_provider_latency,
    wait_for_receipts,
)
from bench.chaos_evidence import PUSH, attribute, sent_twice
from bench.load import Answer, JsonClient, open_loop
from bench.sampling import MB, Sampler, StackProcesses, busy_cores
from bench.soak_report import CpuTally, Evidence, FaultSpan, Sample
from bench.stack import ROOT, Stack
from nootification.config import Config
from nootification.redis_connection import connect

log = logging.getLogger(__name__)

STALL_S = 20.0
LOCK_S = 15.0
PROVIDER_ERROR_RATE = 0.3
PROVIDER_ERROR_S = 60.0
# A camera sends an alert again, 0.2 s apart, for this long before it gives up on it.
POST_PATIENCE_S = 120.0
POST_PAUSE_S = 0.2
CLIENT_THREADS = 64
SAMPLES_PER_WINDOW = 30
ACCEPTED = (200, 201)
DEFAULT_OUT = ROOT / "bench" / "results" / "soak"

Fault = tuple[str, Callable[[Stack], object]]


def faults_in_turn(window_s: float) -> list[Fault]:
    """The faults in the order they come, each as (description, action that returns once it is over)."""
    provider_s = min(PROVIDER_ERROR_S, window_s / 3)
    return [
        ("SIGKILL worker-0, started again", lambda stack: faults.kill_worker(stack, 0)),
        ("restart Redis", lambda stack: stack.restart("redis")),
        (f"Redis SIGSTOP {STALL_S:g} s", lambda stack: faults.pause_redis(stack, STALL_S)),
        (f"database write lock {LOCK_S:g} s", lambda stack: faults.hold_write_lock(stack, LOCK_S)),
        (
            f"provider {PROVIDER_ERROR_RATE:.0%} 500s for {provider_s:g} s",
            lambda stack: faults.provider_errors(stack, PROVIDER_ERROR_RATE, provider_s),
        ),
        ("restart the API", lambda stack: stack.restart("api")),
    ]


def camera(client: JsonClient, shop: str, retries: itertools.count) -> Callable[[], Answer]:
    """A request for the open loop: one new alert, POSTed again until the API accepts it or patience ends."""

    def post() -> Answer:
        body = alert_body(shop)
        give_up = time.monotonic() + POST_PATIENCE_S
        while True:
            try:
                answer = client.post(ALERTS, body)
                if answer[0] in ACCEPTED or time.monotonic() > give_up:
                    return answer
            except (OSError, http.client.HTTPException):
                if time.monotonic() > give_up:
                    raise
            next(retries)
            time.sleep(POST_PAUSE_S)

    return post


class Probe:
    """Reads a Sample of the stack: its processes' memory and descriptors, Redis, the database, the queue."""

    def __init__(self, stack: Stack, processes: StackProcesses):
        self.stack = stack
        self.processes = processes
        # Short timeouts (and redis-py's default of no retries): a stopped Redis reads as None at once rather
        # than stalling the samples.
        self.redis = connect(stack.redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.queue_key = Queue(
            stack.env.get("RQ_QUEUE_NAME", Config.RQ_QUEUE_NAME), connection=self.redis
        ).key
        self.url = sa.engine.make_url(stack.env["DATABASE_URL"])
        self.engine = None if self.url.get_backend_name() == "sqlite" else sa.create_engine(self.url)
        self.cpu = CpuTally()

    def __call__(self) -> Sample:
        """The stack now."""
        rss, fds = self.processes.rss(), self.processes.open_fds()
        self.cpu.add(self.processes.cpu_seconds())
        try:
            redis_mb: float | None = self.redis.info("memory")["used_memory"] / MB
            backlog: int | None = self.redis.llen(self.queue_key)
        except RedisError:
            redis_mb = backlog = None
        return Sample(
            at=time.time(),
            worker_rss_mb=_mb(_workers(rss)),
            api_rss_mb=_mb(rss.get("api")),
            worker_fds=_workers(fds),
            api_fds=sum(fds["api"]) if "api" in fds else None,
            redis_mb=redis_mb,
            database_mb=self.database_mb(),
            backlog=backlog,
        )

    def database_mb(self) -> float | None:
        """The database's size on disk: SQLite's file and its write-ahead log, or pg_database_size."""
        if self.engine is None:
            paths = [Path(self.url.database), Path(f"{self.url.database}-wal")]
            return sum(path.stat().st_size for path in paths if path.exists()) / MB
        try:
            with self.engine.connect() as connection:
                size = connection.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
        except sa.exc.SQLAlchemyError:
            return None
        return size / MB

    def close(self) -> None:
        """Let go of Redis and the database."""
        self.redis.close()
        if self.engine is not None:
            self.engine.dispose()


def _workers(values: dict[str, list[int]]) -> int | None:
    found = [sum(sizes) for name, sizes in values.items() if name.startswith("worker-")]
    return sum(found) if found else None


def _mb(size: float | list[int] | None) -> float | None:
    if size is None:
        return None
    return (sum(size) if isinstance(size, list) else size) / MB


def inject(stack: Stack, window: int, fault: Fault, done: list[FaultSpan]) -> threading.Thread:
    """Start `fault` in a thread of its own; once over, it is added to `done` with its start and end."""

    def run() -> None:
        description, action = fault
        started = time.time()
        log.info("window %d: %s", window, description)
        try:
            action(stack)
        finally:
            done.append(FaultSpan(window, description, started, time.time()))

    thread = threading.Thread(target=run, name=f"fault-{window}", daemon=True)
    thread.start()
    return thread


def run_faults(stack: Stack, start: float, window_s: float, count: int, poster: threading.Thread) -> list:
    """A fault at the start of every window but the first, in turn, while the poster runs."""
    done: list[FaultSpan] = []
    turn = faults_in_turn(window_s)
    for window in range(1, count):
        time.sleep(max(0.0, start + window * window_s - time.time()))
        if not poster.is_alive():
            break
        # Each fault ends well within its window; the next waits for it.
        inject(stack, window, turn[(window - 1) % len(turn)], done).join()
    return sorted(done, key=lambda span: span.started)


def staff_of(api: str, shop: str) -> list[str]:
    """The user_uuid of every member of `shop`."""
    response = chaos.session.get(f"{api}/users", params={"location": shop}, timeout=30)
    response.raise_for_status()
    return [user["user_uuid"] for user in response.json()]


def drain(stack: Stack, expected: int, timeout: float) -> float:
    """Wait until the stub holds `expected` messages and no delivery is left to send; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        counters = requests.get(f"{stack.stub_url}/control", timeout=30).json()["counters"]
        if counters["count"] >= expected and not chaos.undrained(stack.api_url):
            break
        time.sleep(1)
    return round(time.monotonic() - started, 1)


def soak(options: argparse.Namespace) -> dict:
    """Start the stack, post and inject faults for --minutes while sampling, drain; return the results."""
    window_s = soak_report.window_seconds(options.minutes, options.window_minutes)
    count = soak_report.window_count(options.minutes, window_s)
    settings = {**faults.SETTINGS, **({"DATABASE_URL": options.database_url} if options.database_url else {})}
    stub_env = {"STUB_SEED": str(options.seed)}
    with Stack(workers=options.workers, settings=settings, stub_env=stub_env) as stack:
        log.info("stack up in %s; %d windows of %g s", stack.directory, count, window_s)
        chaos.session.headers["Authorization"] = f"Bearer {stack.admin_token}"
        set_provider_latency(stack.stub_url, options.latency_ms)
        client = JsonClient(stack.api_url, token=stack.admin_token)
        shop = create_shop(client, options.staff)
        staff = staff_of(stack.api_url, shop)
        # One alert through the whole pipeline first, so the first window does not pay for imports.
        client.post(ALERTS, alert_body(shop))
        wait_for_receipts(stack.stub_url, len(staff), options.drain_timeout)
        clear_stub(stack.stub_url)
        processes = StackProcesses(stack)
        probe = Probe(stack, processes)
        retries = itertools.count()
        duration = count * window_s
        start = time.time()
        with Sampler(probe, window_s / SAMPLES_PER_WINDOW) as sampler:
            runs = []
            poster = threading.Thread(
                target=lambda: runs.append(
                    open_loop(
                        camera(client, shop, retries),
                        rate=options.rate,
                        duration=duration,
                        concurrency=CLIENT_THREADS,
                    )
                ),
                name="poster",
                daemon=True,
            )
            poster.start()
            spans = run_faults(stack, start, window_s, count, poster)
            poster.join()
            posted_until = time.time()
            cpu = soak_report.cpu_cores(probe.cpu.used, posted_until - start)
            run = runs[0]
            # The windows run from the open loop's first slot, a few ms after `start`, which timed the faults.
            start = run.shots[0].due_wall
            accepted = run.answered(ACCEPTED)
            posted = {shot.body["alert_uuid"]: shot.due_wall for shot in accepted}
            expected = {(alert, user, PUSH) for alert in posted for user in staff}
            drain_s = drain(stack, len(expected), options.drain_timeout)
        client.close()
        probe.close()
        response = requests.get(f"{stack.stub_url}/messages", timeout=600)
        response.raise_for_status()
        messages = response.json()["messages"]
        engine = sa.create_engine(stack.env["DATABASE_URL"])
        with engine.connect() as connection:
            twice = sent_twice(connection)
        engine.dispose()
        # An idle `flask worker` restarts itself on SIGTERM, so a clean stop waits out Stack.stop's timeout;
        # nothing is left to send by now.
        for index in range(stack.worker_count):
            stack.kill(f"worker-{index}")
    evidence = Evidence(
        posted=posted,
        expected=expected,
        receipts=[attribute(message, {}) for message in messages],
        arrivals=[(message.get("alert_uuid"), message["received_at"]) for message in messages],
        post_seconds={shot.body["alert_uuid"]: shot.latency for shot in accepted},
    )
    samples = [sample for _, sample in sampler.samples]
    rows = soak_report.window_rows(start, window_s, count, spans, evidence, samples)
    summary = soak_report.summary(rows)
    offered = run.counts(ACCEPTED)
    totals = {
        **offered,
        "post_retries": next(retries),
        "post_p99_s": round(report.percentile([s.latency for s in accepted], 99), 3) if accepted else None,
        "expected_deliveries": len(expected),
        "offered_deliveries_per_s": options.rate * options.staff,
        "deliveries_per_s": round(
            sum(1 for _, at in evidence.arrivals if start <= at < posted_until) / (posted_until - start), 1
        ),
        "drain_s": drain_s,
        "ledger_sent_twice": twice,
        "cpu_cores": cpu,
    }
    return {
        "summary": summary,
        "verdicts": soak_report.verdicts(summary),
        "totals": totals,
        "windows": rows,
        "faults": [vars(span) for span in spans],
        "samples": [vars(sample) for sample in samples],
        "start": start,
        "window_s": window_s,
    }


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--minutes", type=_positive, default=60.0, help="how long alerts are posted (default 60)")
    add("--rate", type=_positive, default=20.0, help="alerts posted per second (default 20)")
    add(
        "--staff", type=int, default=10, help="members of the shop, each notified of every alert (default 10)"
    )
    add("--latency-ms", type=float, default=100.0, help="the provider answers after this (default 100)")
    add(
        "--window-minutes",
        type=_positive,
        default=5.0,
        help="each window, one fault at its start; shorter when --minutes is under five windows (default 5)",
    )
    add("--workers", type=int, default=2, help="`flask worker` processes (default 2)")
    add(
        "--database-url",
        default=None,
        help="an empty database for the stack, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/soak "
        "(default: a new SQLite file)",
    )
    add("--drain-timeout", type=float, default=300.0, help="most seconds to wait after posting (default 300)")
    add("--seed", type=int, default=1, help="seed of the provider's failures (default 1)")
    add(
        "--out", type=Path, default=DEFAULT_OUT, help="for results.json and results.png (default %(default)s)"
    )
    return parser.parse_args(argv)


def meta(options: argparse.Namespace, argv: list[str]) -> dict:
    """When and how the soak ran, and how busy the machine was before it started."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "bench.soak", *argv]),
        "options": {
            key: str(value) if isinstance(value, Path) else value for key, value in vars(options).items()
        },
        "cpus": os.cpu_count(),
        "busy_cores_before": round(busy_cores(), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak, print the windows, write the JSON and the plot; 1 if anything was lost or sent twice."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    options.out.mkdir(parents=True, exist_ok=True)
    results = {"meta": meta(options, argv)} | soak(options)
    json_path, png_path = options.out / "results.json", options.out / "results.png"
    samples = [Sample(**sample) for sample in results["samples"]]
    soak_report.plot(results["windows"], samples, results["start"], png_path)
    report.write_json(results, json_path)
    print("\n".join(soak_report.table(results["windows"])), end="\n\n")
    for name, value in {**results["summary"], **results["totals"]}.items():
        print(f"{name:<26}  {value}")
    for target, verdict in results["verdicts"].items():
        print(f"{target:<26}  {verdict}")
    print(f"\n{json_path}\n{png_path}")
    return 1 if soak_report.failed(results["summary"]) else 0


if __name__ == "__main__":
    sys.exit(main())
