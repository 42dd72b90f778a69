"""Chaos run: deliveries on every channel under provider failures, a SIGKILLed worker, a Redis restart, a 15 s
database write lock, a 30 s Redis stall (SIGSTOP), an API restart, then the API, a worker, the scheduler and
Redis SIGKILLed in turn and started again.

Each member of staff hears on push and on one more channel (sms, telegram, slack by bot or incoming webhook,
teams, webhook, email, a call, round-robin), all at the stub. Every shop has a fallback ladder: push at once,
the other channels LADDER_WAIT seconds later; every other critical alert is closed (an admin's false alarm)
as soon as it is accepted, so its later steps are not owed, and none may start after the close was
acknowledged. Asserts that every expected (alert, user, channel) reached the stub, that any repeat follows
the channel's policy for a send whose outcome is unknown (push, webhook and email: the same key, absorbed by
the provider; sms, telegram, slack, teams: a second message marked "Repeat: "; a call: saying so first), and
that the API's /metrics counted what the database holds (alerts created, deliveries sent, failed and expired,
one latency observation per sent delivery). Prints a line per fault (the deliveries of the alerts posted until
the next fault: lost, duplicates per channel, time until the last was sent), a line per channel, and the
totals with receipt → sent p50 / p95. Loopback only, bounded in time.
"""

import argparse
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from bench import faults
from bench.chaos_evidence import (
    PUSH,
    VIDEO_URL,
    Fault,
    Triple,
    attribute,
    call_alerts,
    channel_table,
    classify,
    clock,
    fault_table,
    sent_deliveries,
    sent_twice,
    steps_started_after,
    summary,
    total,
)
from bench.stack import Stack

# The admin API and the webhook, authenticated with the stack's admin token once the stack is up.
session = requests.Session()
NON_FINAL = ("pending", "queued", "sending", "scheduled")

LOCK_SECONDS = 15.0
STALL_SECONDS = 30.0
KILL_PAUSE_SECONDS = 2.0
# Processes SIGKILLed in a run (worker-0 alone, then four in turn): each may miss a count it was making.
KILLED_COUNTING = {"all": 5, "restarts": 1}

# Every shop's ladder: push at once, the other channels (all of CONTACTS') LADDER_WAIT seconds later.
LADDER_WAIT = 2.0
LADDER = [
    {"after_seconds": 0, "channels": [PUSH]},
    {
        "after_seconds": LADDER_WAIT,
        "channels": ["sms", "telegram", "slack", "teams", "webhook", "email", "voice"],
    },
]

# The contact point each member of staff has besides push, round-robin: its channel and its address at the
# stub ({n} numbers the member, {stub} is the stub's URL). Slack twice: the bot's chat.postMessage and an
# incoming webhook.
CONTACTS = (
    ("sms", "+1555{n:07d}"),
    ("telegram", "{n}"),
    ("slack", "C{n:09d}"),
    ("slack", "{stub}/slack/webhook/chaos-{n}"),
    ("teams", "{stub}/teams/webhook/chaos-{n}"),
    ("webhook", "{stub}/webhook/generic/chaos-{n}"),
    ("email", "chaos-{n}@example.com"),
    ("voice", "+1556{n:07d}"),
)


@dataclass(frozen=True)
class Member:
    """A member of staff made for the run: their level and their contact point besides push."""

    user_uuid: str
    level: str
    channel: str
    address: str


@dataclass
class Shop:
    """A shop made for the run and its staff."""

    name: str
    staff: list[Member]


@dataclass
class Run:
    """What was posted and accepted: the expected notifications, those that may or may not come (a later step
    of an alert closed meanwhile), when each alert was accepted and when each closed one was."""

    expected: set[Triple] = field(default_factory=set)
    optional: set[Triple] = field(default_factory=set)
    posted: dict[str, float] = field(default_factory=dict)  # alert_uuid -> time.time() of its 201
    closed: dict[str, float] = field(default_factory=dict)  # alert_uuid -> time.time() of the close's 200
    post_retries: int = 0


def contact_point(number: int, stub_url: str) -> tuple[str, str]:
    """The channel and address of member `number`'s contact point besides push, round-robin over CONTACTS."""
    channel, address = CONTACTS[number % len(CONTACTS)]
    return channel, address.format(n=number, stub=stub_url)


def recorded_address(address: str) -> str:
    """How the stub records an address: a webhook URL by its last two path segments, anything else as is."""
    if address.startswith(("http://", "https://")):
        return "/".join(address.rstrip("/").split("/")[-2:])
    return address


def create_shops(api: str, stub_url: str, shops: int, staff: int, rng: random.Random) -> list[Shop]:
    """Create the shops, their staff and each member's contact point besides push, through the admin API."""
    created = []
    for number in range(shops):
        name = f"chaos-{uuid.uuid4().hex[:8]}-{number}"
        shop = {"name": name, "ladder": LADDER}
        session.post(f"{api}/locations", json=shop, timeout=10).raise_for_status()
        members = []
        for _ in range(staff):
            level = rng.choice(["STANDARD", "STANDARD", "STANDARD", "CRITICAL"])
            response = session.post(f"{api}/users", json={"level": level, "locations": [name]}, timeout=10)
            response.raise_for_status()
            user_uuid = response.json()["user_uuid"]
            channel, address = contact_point(number * staff + len(members), stub_url)
            url = f"{api}/users/{user_uuid}/contact-points/{channel}"
            session.put(url, json={"address": address}, timeout=10).raise_for_status()
            members.append(Member(user_uuid, level, channel, address))
        created.append(Shop(name, members))
    return created


def post_alert(api: str, body: dict, run: Run, deadline: float, path: str = "/webhooks/alerts") -> dict:
    """POST an alert (or to `path`) until the API answers (it may be restarting), as a camera system would."""
    while True:
        try:
            response = session.post(f"{api}{path}", json=body, timeout=5)
            if response.status_code in (200, 201):
                return response.json()
            response.raise_for_status()
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        run.post_retries += 1
        time.sleep(0.2)


def expected_of(alert_uuid: str, severity: str, staff: Iterable[Member]) -> set[Triple]:
    """The notifications an alert of this severity owes the staff: push and the other contact point of each
    member whose level wants it (STANDARD every alert, CRITICAL the critical ones)."""
    return {
        (alert_uuid, member.user_uuid, channel)
        for member in staff
        if severity == "critical" or member.level == "STANDARD"
        for channel in (PUSH, member.channel)
    }


def post_alerts(api: str, shops: list[Shop], target: int, rate: float, run: Run, rng: random.Random) -> None:
    """Post alerts at `rate` per second until `target` notifications are expected."""
    deadline = time.monotonic() + 600
    while len(run.expected) < target:
        shop = rng.choice(shops)
        alert_uuid = str(uuid.uuid4())
        body = {
            "url": VIDEO_URL.format(alert_uuid=alert_uuid),
            "location": shop.name,
            "alert_uuid": alert_uuid,
            "label": rng.choice(["theft", "suspicious", "normal"]),
            "time_spotted": time.time(),
        }
        answer = post_alert(api, body, run, deadline)
        run.posted[alert_uuid] = time.time()
        owed = expected_of(alert_uuid, answer["severity"], shop.staff)
        if answer["severity"] == "critical" and len(run.posted) % 2:
            close = {"outcome": "false_alarm", "note": "chaos"}
            post_alert(api, close, run, deadline, path=f"/alerts/{alert_uuid}/outcome")
            run.closed[alert_uuid] = time.time()
            later = {triple for triple in owed if triple[2] != PUSH}
            owed, run.optional = owed - later, run.optional | later
        run.expected |= owed
        time.sleep(1 / rate)


def undrained(api: str) -> int:
    """How many deliveries are not yet sent, failed or expired."""
    return sum(count_status(api, status) for status in NON_FINAL)


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
        "alerts created": (totals["alerts created"], len(run.posted), api_killed),
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


def chaos(stack: Stack, run: Run, poster: threading.Thread, target: int, faults_set: str) -> list[Fault]:
    """Inject the faults one after the other while the poster runs; return what was done, in order.

    A fault that lasts (a lock, a stall, the kills in turn) runs in a thread of its own while alerts keep
    coming; the next fault waits for it to end, and so does the drain. `faults_set` "restarts" keeps the
    worker SIGKILL, the Redis restart and the API restart only.
    """
    done = []
    restarts = [
        (0.15, "SIGKILL worker-0 and start it again", lambda: faults.kill_worker(stack, 0)),
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
        started = time.time()
        outcome = action()
        lasting = outcome if isinstance(outcome, threading.Thread) else None
        done.append(Fault(description, started))
        print(f"{clock(started)} {description}", file=sys.stderr)
    if lasting is not None:
        lasting.join()
    return done


def rate(text: str) -> float:
    """A probability, for argparse."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--deliveries", type=int, default=2000, help="notifications to cause, all channels (default 2000)"
    )
    parser.add_argument("--rate", type=float, default=25.0, help="alerts posted per second (default 25)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--shops", type=int, default=20, help="shops to create (default 20)")
    parser.add_argument("--staff", type=int, default=10, help="staff per shop (default 10)")
    parser.add_argument(
        "--drain-timeout", type=float, default=300.0, help="seconds to wait for the drain (default 300)"
    )
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
    stub = parser.add_argument_group("the provider stub's failures, on every channel")
    stub.add_argument("--error-rate", type=rate, default=0.2, help="share of 500 answers (default 0.2)")
    stub.add_argument(
        "--rate-limit-rate",
        type=rate,
        default=0.05,
        help="share of 429 answers with Retry-After (default 0.05)",
    )
    stub.add_argument(
        "--hang-rate",
        type=rate,
        default=0.05,
        help="share of requests held, then answered 504 (default 0.05)",
    )
    stub.add_argument(
        "--hang-seconds",
        type=float,
        default=3.0,
        help="how long a held request waits; the service gives up after 1 s (default 3)",
    )
    return parser.parse_args(argv)


def provider_faults(options: argparse.Namespace) -> str:
    """The stub's failure mix in words."""
    return (
        f"{options.error_rate:.0%} 500s, {options.rate_limit_rate:.0%} 429s, "
        f"{options.hang_rate:.0%} hangs of {options.hang_seconds:g} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the chaos scenario and report; exit 1 on any lost notification or repeat against the policy."""
    options = parse_args(argv)
    rng = random.Random(options.seed)
    stub_env = {
        "STUB_ERROR_RATE": str(options.error_rate),
        "STUB_RATE_LIMIT_RATE": str(options.rate_limit_rate),
        "STUB_RETRY_AFTER": "1",
        "STUB_HANG_RATE": str(options.hang_rate),
        "STUB_HANG_SECONDS": str(options.hang_seconds),
        "STUB_SEED": str(options.seed),
    }
    settings = {**faults.SETTINGS, **({"DATABASE_URL": options.database_url} if options.database_url else {})}
    with Stack(workers=options.workers, settings=settings, stub_env=stub_env) as stack:
        print(f"stack in {stack.directory}", file=sys.stderr)
        session.headers["Authorization"] = f"Bearer {stack.admin_token}"
        shops = create_shops(stack.api_url, stack.stub_url, options.shops, options.staff, rng)
        holders = {
            (member.channel, recorded_address(member.address)): member.user_uuid
            for shop in shops
            for member in shop.staff
        }
        run = Run()
        started = time.time()
        poster = threading.Thread(
            target=post_alerts,
            args=(stack.api_url, shops, options.deliveries, options.rate, run, rng),
            daemon=True,
        )
        poster.start()
        done = [Fault("(before the first fault)", started)]
        done += chaos(stack, run, poster, options.deliveries, options.faults)
        poster.join()
        posted = time.time()

        drain_deadline = posted + options.drain_timeout
        while (left := undrained(stack.api_url)) and time.time() < drain_deadline:
            time.sleep(0.5)
        drained = time.time()

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
        engine = sa.create_engine(stack.env["DATABASE_URL"])
        with engine.connect() as connection:
            sent, twice = sent_deliveries(connection), sent_twice(connection)
            after_close = steps_started_after(connection, run.closed)
            calls = call_alerts(connection)
        engine.dispose()
    receipts = [attribute(message, holders, calls) for message in messages["messages"]]
    # A later step of a closed alert that went out before the close is owed nothing, and is no extra either.
    came = {receipt.triple for receipt in receipts}
    tallies = classify(run.expected | (run.optional & came), receipts)
    summed = total(tallies.values())
    report = {
        "provider faults (every channel)": provider_faults(options),
        "alerts posted": len(run.posted),
        "alert POSTs retried": run.post_retries,
        "expected notifications": summed.expected,
        "received": summed.received,
        "lost": summed.lost,
        "extra": summed.extra,
        "repeats stored apart (second messages)": summed.repeats,
        "repeats absorbed by the provider (same key)": summed.raw_duplicates,
        "repeats against the channel's policy": summed.breaches,
        "deliveries sent twice (two 'sent' attempts in the ledger)": twice,
        "critical alerts closed at once / their later steps sent before the close": (
            f"{len(run.closed)} / {len(run.optional & came)}"
        ),
        "later steps started after their alert's close was acknowledged": after_close,
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
        "receipt → sent p50 / p95 / max (s)": summary([s.sent_at - s.received_at for s in sent]),
    }
    print("\n".join(fault_table(done, run.expected, run.posted, receipts, sent)), end="\n\n")
    print("\n".join(channel_table(tallies, sent)), end="\n\n")
    width = max(map(len, report))
    for name, value in report.items():
        print(f"{name:<{width}}  {value}")
    for disagreement in disagreements:
        print(f"metrics disagree: {disagreement}")
    bad = summed.lost or summed.extra or summed.breaches or left or disagreements or after_close
    print("FAILED" if bad else "OK")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
