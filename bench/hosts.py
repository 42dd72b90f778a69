"""Several hosts: workers in two network namespaces ("hosts" a and b, each with its own address), reaching
Redis, PostgreSQL (a server of the bench's own), the API and the stub provider over their veth pair, never
over loopback. Runs as root; everything it builds is torn down at exit, on failure too.

1. Throughput: for each --workers count (spread round-robin over the hosts), alerts are posted to a shop
   while fewer than BACKLOG pushes are owed, for --seconds; deliveries/s at the stub at --latency-ms.
   Meanwhile the PostgreSQL connections of each process (pg_stat_activity by application_name) and Redis's
   memory are sampled.
2. A host cut off: two workers (one per host) under a steady load; host a's link is set down for
   --cut-seconds, then up again. Every push owed must reach the stub and none be stored twice there; host b
   must finish the deliveries host a held (attempted before the cut, again after its lease ended), and host
   a, back with stale leases, must not get a second message to anyone.

Writes results.json (with a `summary`) to --out; exits 1 on anything lost or stored twice.
"""

import argparse
import atexit
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import requests
import sqlalchemy as sa

from bench.bench import alert_body, create_shop
from bench.hosts_evidence import (
    Pair,
    attempts_of_retried,
    connections_by_application,
    longest_gap,
    peak,
    placement,
    repeats,
    takeover,
    tally,
    with_application_name,
)
from bench.load import JsonClient
from bench.netns import Namespaces, Network, unavailable_reason
from bench.postgres import Postgres
from bench.sampling import Sampler
from bench.stack import Stack, wait_for
from nootification.models import Delivery, DeliveryAttempt
from nootification.redis_connection import connect

log = logging.getLogger("bench.hosts")

STAFF = 20  # members of the bench's shop: each alert owes 20 pushes
BACKLOG = 400  # pushes owed at most while measuring throughput: the queue never runs dry, nor grows
WARM_UP = 3.0  # seconds of each throughput run not counted
SAMPLE_INTERVAL = 1.0
DRAIN_TIMEOUT = 180.0
CUT_RATE = 4.0  # alerts/s during the cut run: 80 pushes/s, within one host's reach
BURST = 10  # alerts posted at once just before the cut: 200 pushes, a batch or more for each host
BURST_SETTLE = 0.3  # seconds between the burst and the cut: the hosts have leased their batches
# A request on the wire when the link went down reaches the stub's handler a moment after the cut is read.
ON_THE_WIRE_S = 0.5
# The bench's lease: shorter than the cut, so host b takes over within the run (the default is 120 s).
BENCH_LEASE = 10.0
SETTINGS = {
    "DELIVERY_LEASE": f"{BENCH_LEASE:g}",
    "SWEEP_INTERVAL": "2",
    "GROUP_WINDOW_SECONDS": "0",
    "MAX_MESSAGES_PER_PERSON": "0",
}
SERVICE_NAME = "api+scheduler"
NON_FINAL = ("pending", "queued", "sending", "scheduled")
RQ_WORKERS = "rq:workers"  # RQ's set of registered workers


class HostsStack(Stack):
    """The stack on the bridge's address, each worker run on its host (`ip netns exec`) with its own
    application_name in PostgreSQL."""

    def __init__(self, network: Network, database_url: str, **kwargs) -> None:
        settings = {
            **kwargs.pop("settings", {}),
            "DATABASE_URL": with_application_name(database_url, SERVICE_NAME),
        }
        super().__init__(host=network.server_address, settings=settings, workers=0, **kwargs)
        self.network = network
        self.database_url = database_url
        self.hosts: list[str] = []  # the host of each worker index

    def worker_command(self, index: int) -> list[str]:
        """`ip netns exec <its host's namespace>` before the usual command."""
        return self.network.host(self.hosts[index]).prefix() + super().worker_command(index)

    def worker_env(self, index: int) -> dict[str, str]:
        """The stack's environment, its database URL naming the worker."""
        return {**self.env, "DATABASE_URL": with_application_name(self.database_url, f"worker-{index}")}

    def start_workers(self, count: int) -> None:
        """Start `count` workers spread over the hosts; return once each has registered with RQ."""
        redis = connect(self.redis_url)
        known = redis.smembers(RQ_WORKERS)
        self.hosts = placement(count, [host.name for host in self.network.hosts])
        for index in range(count):
            self.start_worker(index)
        self.worker_count = count
        wait_for(lambda: len(redis.smembers(RQ_WORKERS) - known) >= count, "the workers", timeout=120)
        redis.close()

    def kill_workers(self) -> None:
        """SIGKILL every worker (an idle `flask worker` takes SIGTERM as a restart) and forget them."""
        for index in range(self.worker_count):
            name = f"worker-{index}"
            if self.processes[name].poll() is None:
                self.kill(name)
            del self.processes[name]
        self.worker_count = 0


class Probe:
    """PostgreSQL connections by application_name and Redis memory, sampled together."""

    def __init__(self, stack: HostsStack, database: str) -> None:
        self.conninfo = stack.database_url.replace("postgresql+psycopg", "postgresql")
        self.database = database
        self.redis = connect(stack.redis_url)

    def __call__(self) -> dict[str, int]:
        """One sample: connections of each application, and redis_used_memory in bytes."""
        with psycopg.connect(self.conninfo, application_name="bench-probe") as connection:
            rows = connection.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1",
                (self.database,),
            ).fetchall()
        sample = connections_by_application(rows)
        sample.pop("bench-probe", None)
        return sample | {"redis_used_memory": int(self.redis.info("memory")["used_memory"])}


def stub_count(stub: str) -> int:
    """Messages the stub stored (unique keys)."""
    return requests.get(f"{stub}/control", timeout=10).json()["counters"]["count"]


def set_latency(stub: str, milliseconds: float) -> None:
    """The stub answers every POST after `milliseconds`."""
    requests.put(f"{stub}/control", json={"latency": milliseconds / 1000}, timeout=10).raise_for_status()


def wait_drained(stub: str, owed: int, timeout: float) -> bool:
    """Wait until the stub stored `owed` messages; False if it does not in time."""
    deadline = time.monotonic() + timeout
    while stub_count(stub) < owed:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def measure_throughput(
    stack: HostsStack, client: JsonClient, shop: str, workers: int, seconds: float
) -> dict:
    """Deliveries/s with `workers` processes, the queue kept BACKLOG pushes deep for `seconds`."""
    requests.delete(f"{stack.stub_url}/messages", timeout=30).raise_for_status()
    stack.start_workers(workers)
    owed, started = 0, time.monotonic()
    window: list[tuple[float, int]] = []
    while (elapsed := time.monotonic() - started) < seconds + WARM_UP:
        received = stub_count(stack.stub_url)
        if elapsed >= WARM_UP:
            window.append((time.monotonic(), received))
        if owed - received < BACKLOG:
            status, answer = client.post("/webhooks/alerts", alert_body(shop))
            if status != 201:
                raise RuntimeError(f"POST /webhooks/alerts answered {status}: {answer}")
            owed += answer["delivery_count"]
        else:
            time.sleep(0.05)
    drained = wait_drained(stack.stub_url, owed, DRAIN_TIMEOUT)
    stack.kill_workers()
    (first_at, first), (last_at, last) = window[0], window[-1]
    rate = (last - first) / (last_at - first_at)
    return {
        "workers": workers,
        "hosts": placement(workers, [host.name for host in stack.network.hosts]),
        "deliveries_per_s": round(rate, 1),
        "deliveries_per_s_per_worker": round(rate / workers, 1),
        "measured_s": round(last_at - first_at, 1),
        "pushes": owed,
        "drained": drained,
    }


def post_steadily(
    client: JsonClient, shop: str, staff: list[str], stop: threading.Event, owed: set[Pair]
) -> None:
    """Post CUT_RATE alerts a second until `stop`; every member owed a push of each."""
    while not stop.is_set():
        body = alert_body(shop)
        status, answer = client.post("/webhooks/alerts", body)
        if status != 201:
            raise RuntimeError(f"POST /webhooks/alerts answered {status}: {answer}")
        owed.update((body["alert_uuid"], user) for user in staff)
        stop.wait(1 / CUT_RATE)


def post_burst(client: JsonClient, shop: str, staff: list[str], owed: set[Pair]) -> None:
    """Post BURST alerts at once; every member owed a push of each."""
    for _ in range(BURST):
        body = alert_body(shop)
        status, answer = client.post("/webhooks/alerts", body)
        if status != 201:
            raise RuntimeError(f"POST /webhooks/alerts answered {status}: {answer}")
        owed.update((body["alert_uuid"], user) for user in staff)


def undrained(engine: sa.Engine) -> int:
    """Deliveries not yet sent, failed or expired."""
    deliveries = Delivery.__table__
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).where(deliveries.c.status.in_(NON_FINAL))
        return connection.execute(query).scalar_one()


def sent_twice(engine: sa.Engine) -> int:
    """Deliveries the ledger shows sent by more than one attempt."""
    attempts = DeliveryAttempt.__table__
    repeated = (
        sa.select(attempts.c.delivery_id)
        .where(attempts.c.outcome == "sent")
        .group_by(attempts.c.delivery_id)
        .having(sa.func.count() > 1)
        .subquery()
    )
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(repeated)).scalar_one()


def run_cut(
    stack: HostsStack,
    namespaces: Namespaces,
    client: JsonClient,
    shop: str,
    staff: list[str],
    timings: tuple[float, float, float],
) -> dict:
    """Two workers, one per host; host a cut off for `cut` s between `before` and `after` s of steady load."""
    before, cut, after = timings
    engine = sa.create_engine(stack.database_url)
    requests.delete(f"{stack.stub_url}/messages", timeout=30).raise_for_status()
    stack.start_workers(2)
    cut_host = stack.network.hosts[0]
    owed: set[Pair] = set()
    stop = threading.Event()
    poster = threading.Thread(target=post_steadily, args=(client, shop, staff, stop, owed), daemon=True)
    poster.start()
    time.sleep(before)
    # A burst just before the cut keeps both hosts busy, so host a holds deliveries when its link goes down.
    post_burst(client, shop, staff, owed)
    time.sleep(BURST_SETTLE)
    namespaces.cut(cut_host)
    # After the link is down: anything the provider receives from then on left before it or not at all.
    cut_at = time.time()
    log.info("host %s cut off for %g s", cut_host.name, cut)
    time.sleep(cut)
    namespaces.plug(cut_host)
    plugged_at = time.time()
    log.info("host %s plugged back in", cut_host.name)
    time.sleep(after)
    stop.set()
    poster.join()
    restarted = restart_dead_workers(stack)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while (left := undrained(engine)) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # any late repeat from the host that came back would land now
    messages = requests.get(f"{stack.stub_url}/messages", params={"senders": "1"}, timeout=60).json()
    host_of = {host.address: host.name for host in stack.network.hosts}
    counted = tally(owed, messages["messages"], host_of)
    senders = {message["idempotency_key"]: message["senders"] for message in messages["messages"]}
    with engine.connect() as connection:
        taken = takeover(attempts_of_retried(connection), cut_at, senders, host_of)
    ledger_twice = sent_twice(engine)
    engine.dispose()
    stack.kill_workers()
    return {
        "cut_host": cut_host.name,
        "cut_s": cut,
        "lease_s": float(stack.env["DELIVERY_LEASE"]),
        "expected": counted.expected,
        "received": counted.received,
        "lost": counted.lost,
        "duplicates": counted.duplicates,
        "sent_twice_in_ledger": ledger_twice,
        "repeats_absorbed_by_key": counted.absorbed,
        "sent_by_host": dict(counted.by_host),
        "sent_by_host_before_during_after_cut": phases(messages["messages"], host_of, cut_at, plugged_at),
        "repeats_by_host_and_time": repeats(messages["messages"], host_of, cut_at),
        "longest_gap_after_plug_s": longest_gap((m["received_at"] for m in messages["messages"]), plugged_at),
        "not_drained": left,
        "workers_restarted_after_cut": restarted,
        "takeover": {
            "held_by_cut_host": taken.in_flight,
            "sent_after_the_cut": taken.finished,
            "receipts_after_the_cut_by_host": taken.sent_by,
            "first_s_after_cut": taken.first_s,
            "last_s_after_cut": taken.last_s,
        },
    }


def phases(messages: list[dict], host_of: dict[str, str], cut_at: float, plugged_at: float) -> dict:
    """Pushes each host sent before the cut, at it (received within ON_THE_WIRE_S of it: sent before the link
    went down), during it and after it, by the time of their first receipt."""
    counted: dict[str, Counter] = {phase: Counter() for phase in ("before", "at_cut", "during", "after")}
    for message in messages:
        at = message["received_at"]
        if at < cut_at:
            phase = "before"
        elif at < cut_at + ON_THE_WIRE_S:
            phase = "at_cut"
        else:
            phase = "during" if at < plugged_at else "after"
        counted[phase][host_of.get(message["senders"][0]["address"], "other")] += 1
    return {phase: dict(hosts) for phase, hosts in counted.items()}


def restart_dead_workers(stack: HostsStack) -> list[str]:
    """Start again any worker that exited (as a supervisor would); their names."""
    dead = [
        name
        for name, process in stack.processes.items()
        if name.startswith("worker-") and process.poll() is not None
    ]
    for name in dead:
        stack.start_worker(int(name.split("-")[1]))
    return dead


def sizing(throughput: list[dict], samples: list[tuple[float, dict[str, int]]]) -> dict:
    """The sizing table's inputs: deliveries/s per worker process, each process's PostgreSQL connections at
    most, Redis memory at most."""
    most = peak(sample for _, sample in samples)
    workers = {name: count for name, count in most.items() if name.startswith("worker-")}
    return {
        "deliveries_per_s_per_worker": {
            str(row["workers"]): row["deliveries_per_s_per_worker"] for row in throughput
        },
        "pg_connections_per_worker_max": max(workers.values(), default=0),
        "pg_connections_by_process_max": {
            name: count for name, count in most.items() if name != "redis_used_memory"
        },
        "redis_used_memory_max_bytes": most.get("redis_used_memory", 0),
    }


def summary(throughput: list[dict], cut: dict, sized: dict) -> dict:
    """The figures a script reads."""
    return {
        "deliveries_per_s": {str(row["workers"]): row["deliveries_per_s"] for row in throughput},
        "lost": cut["lost"],
        "duplicates": cut["duplicates"],
        "repeats_absorbed_by_key": cut["repeats_absorbed_by_key"],
        "sent_twice_in_ledger": cut["sent_twice_in_ledger"],
        "takeover_s": cut["takeover"]["last_s_after_cut"],
        "sent_by_host": cut["sent_by_host"],
        **sized,
    }


def run_bench(options: argparse.Namespace, cleanups: list[Callable[[], None]]) -> dict:
    """Build the network and the servers, run both parts, return the results; `cleanups` undo each step."""
    namespaces = Namespaces()
    cleanups.append(namespaces.down)
    network = namespaces.up()
    postgres = Postgres(network.server_address)
    cleanups.append(postgres.stop)
    postgres.start()
    log.info("postgres on %s:%d", postgres.address, postgres.port)
    database = f"hosts_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(database)
    options.out.mkdir(parents=True, exist_ok=True)
    stack = HostsStack(
        network,
        url,
        settings={**SETTINGS, **dict(options.env)},
        directory=Path(tempfile.mkdtemp(dir=options.out)),
    )
    cleanups.append(stack.close)
    stack.start()
    log.info("stack up in %s", stack.directory)
    set_latency(stack.stub_url, options.latency_ms)
    client = JsonClient(stack.api_url, token=stack.admin_token)
    shop = create_shop(client, STAFF)
    listed = requests.get(
        f"{stack.api_url}/users",
        params={"location": shop},
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=10,
    ).json()
    staff = [user["user_uuid"] for user in listed]
    log.info("network %s, stack in %s", network, stack.directory)
    with Sampler(Probe(stack, database), SAMPLE_INTERVAL) as sampler:
        throughput = []
        for workers in [] if options.cut_only else options.workers:
            throughput.append(measure_throughput(stack, client, shop, workers, options.seconds))
            log.info("%s", throughput[-1])
        cut = run_cut(
            stack, namespaces, client, shop, staff, (options.before, options.cut_seconds, options.after)
        )
        log.info("%s", cut)
    client.close()
    sized = sizing(throughput, sampler.samples)
    return {
        "summary": summary(throughput, cut, sized),
        "throughput": throughput,
        "cut": cut,
        "settings": {**SETTINGS, "WORKER_CONCURRENCY": stack.env.get("WORKER_CONCURRENCY", "32 (default)")},
        "network": {"servers": network.server_address, "hosts": {h.name: h.address for h in network.hosts}},
        "options": {k: v for k, v in vars(options).items() if k != "out"},
        # How busy the shared machine was: its load averages (1, 5, 15 min) at the end, and its cores.
        "machine": {"load_average": [round(load, 1) for load in os.getloadavg()], "cpus": os.cpu_count()},
    }


def workers_list(text: str) -> list[int]:
    """A comma-separated list of worker counts, for argparse."""
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give worker counts of at least 1, e.g. 1,2,4")
    return counts


def setting(text: str) -> tuple[str, str]:
    """NAME=value, for argparse."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("give NAME=value")
    return name, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("var/bench-hosts"),
        help="results directory (default var/bench-hosts)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="seconds measured per worker count (default 20)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=100.0, help="the stub's answer delay (default 100)"
    )
    parser.add_argument(
        "--workers", type=workers_list, default=[1, 2, 4], help="worker counts (default 1,2,4)"
    )
    parser.add_argument(
        "--cut-seconds", type=float, default=30.0, help="how long host a is cut off (default 30)"
    )
    parser.add_argument(
        "--before", type=float, default=10.0, help="steady load before the cut, s (default 10)"
    )
    parser.add_argument("--after", type=float, default=15.0, help="steady load after it, s (default 15)")
    parser.add_argument(
        "--cut-only",
        action="store_true",
        help="skip the throughput runs: the cut alone (the test's tiny run)",
    )
    parser.add_argument(
        "--env",
        type=setting,
        action="append",
        default=[],
        metavar="NAME=value",
        help=f"a setting of the service (repeatable), e.g. DELIVERY_LEASE=5 (bench lease: {BENCH_LEASE:g} s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the bench, write results.json; exit 1 on anything lost or sent twice, 2 when it cannot run here."""
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    reason = unavailable_reason()
    if reason:
        print(f"bench.hosts: {reason}", file=sys.stderr)
        return 2
    cleanups: list[Callable[[], None]] = []

    def clean_up() -> None:
        while cleanups:
            try:
                cleanups.pop()()
            except Exception:  # noqa: BLE001 (every later step must still run)
                log.exception("clean-up step failed")

    atexit.register(clean_up)
    # SIGTERM ends Python without running `finally` or atexit: as SystemExit it runs both.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        results = run_bench(options, cleanups)
    finally:
        clean_up()
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["summary"], indent=2))
    bad = results["summary"]["lost"] or results["summary"]["duplicates"] or results["cut"]["not_drained"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
