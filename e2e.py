"""End-to-end check: post alerts to a running API and verify what the stub provider received."""

import argparse
import logging
import math
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import requests

log = logging.getLogger(__name__)

LABELS = ("theft", "suspicious", "normal")
DEMO_USERS = 4
REQUEST_TIMEOUT = 10.0
POLL_INTERVAL = 0.5
SHOWN = 5

Pair = tuple[str, str]
"""(alert_uuid, user_uuid): one expected or received notification."""


class StackUnreachable(Exception):
    """The API or the stub could not be reached at all."""


class CheckFailed(Exception):
    """The API or the stub answered, but not as the contract says."""


@dataclass(frozen=True)
class User:
    """A user as far as routing goes: their level and the shops they belong to."""

    user_uuid: str
    level: str
    locations: frozenset[str]


@dataclass(frozen=True)
class PostedAlert:
    """An alert this run posted, what the API said about it and when it was posted."""

    alert_uuid: str
    location: str
    label: str
    severity: str
    delivery_count: int
    posted_at: float


@dataclass(frozen=True)
class Received:
    """What the stub holds for this run's alerts."""

    messages: list[dict[str, Any]]
    raw_duplicates: int


@dataclass(frozen=True)
class Comparison:
    """Expected against received, with everything that does not match."""

    expected: int
    received: int
    missing: list[Pair]
    extra: list[Pair]
    duplicated: list[Pair]
    raw_duplicates: int
    count_mismatches: list[tuple[str, int, int]]

    @property
    def ok(self) -> bool:
        """True when every expected notification arrived exactly once and nothing else did."""
        return not (
            self.missing or self.extra or self.duplicated or self.raw_duplicates or self.count_mismatches
        )


def _call(session: requests.Session, method: str, url: str, status: int, **kwargs: Any) -> Any:
    try:
        response = session.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
    except requests.ConnectionError as exc:
        raise StackUnreachable(f"cannot reach {url} (is the stack running?): {exc}") from exc
    except requests.Timeout as exc:
        raise CheckFailed(f"{method} {url} did not answer within {REQUEST_TIMEOUT:g}s") from exc
    if response.status_code != status:
        raise CheckFailed(
            f"{method} {url} answered {response.status_code}, expected {status}: {response.text[:200]}"
        )
    try:
        return response.json()
    except ValueError as exc:
        raise CheckFailed(f"{method} {url} did not answer JSON: {response.text[:200]}") from exc


def probe_stub(session: requests.Session, stub: str) -> dict[str, Any]:
    """The stub's control state; fails early, before anything is posted, if the stub is down."""
    return _call(session, "GET", f"{stub}/control", 200)


def fetch_users(session: requests.Session, api: str) -> list[User]:
    """Every user with their level and shops."""
    body = _call(session, "GET", f"{api}/users", 200)
    try:
        return [User(u["user_uuid"], u["level"], frozenset(u["locations"])) for u in body]
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"GET {api}/users: unexpected user shape ({exc!r})") from exc


def fetch_locations(session: requests.Session, api: str) -> list[str]:
    """The names of every shop."""
    body = _call(session, "GET", f"{api}/locations", 200)
    try:
        names = [location["name"] for location in body]
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"GET {api}/locations: unexpected location shape ({exc!r})") from exc
    if not names:
        raise CheckFailed(f"GET {api}/locations: no shops to post alerts for")
    return names


def plan_preferences(users: Sequence[User], rng: random.Random) -> dict[str, str]:
    """Levels for a few demo users who belong to a shop: alternately STANDARD and CRITICAL."""
    candidates = sorted(u.user_uuid for u in users if u.locations)
    chosen = rng.sample(candidates, min(DEMO_USERS, len(candidates)))
    return {user_uuid: ("STANDARD", "CRITICAL")[i % 2] for i, user_uuid in enumerate(chosen)}


def apply_preferences(session: requests.Session, api: str, levels: Mapping[str, str]) -> None:
    """PUT each level and check the API echoes it."""
    for user_uuid, level in levels.items():
        sent = {"user_id": user_uuid, "level": level}
        body = _call(session, "PUT", f"{api}/preferences", 200, json=sent)
        if body != sent:
            raise CheckFailed(f"PUT {api}/preferences with {sent} answered {body}")


def with_levels(users: Sequence[User], levels: Mapping[str, str]) -> list[User]:
    """The users as they are once `levels` are applied."""
    return [replace(u, level=levels.get(u.user_uuid, u.level)) for u in users]


def plan_alerts(shops: Sequence[str], count: int, rng: random.Random) -> list[dict[str, str]]:
    """Alert payloads without time_spotted; labels cycle, so any 2 or more include a theft and a non-theft."""
    labels = [LABELS[i % len(LABELS)] for i in range(count)]
    rng.shuffle(labels)
    plans = []
    for label in labels:
        # Fresh uuids even with --seed: a replayed uuid would collide with an earlier run's alert.
        alert_uuid = str(uuid.uuid4())
        plans.append(
            {
                "url": f"https://media.example.com/{alert_uuid}.mp4",
                "location": rng.choice(shops),
                "alert_uuid": alert_uuid,
                "label": label,
            }
        )
    return plans


def post_alert(session: requests.Session, api: str, plan: Mapping[str, str]) -> PostedAlert:
    """POST one alert, stamped with the time it is posted."""
    posted_at = time.time()
    body = _call(session, "POST", f"{api}/webhooks/alerts", 201, json={**plan, "time_spotted": posted_at})
    try:
        severity, delivery_count = body["severity"], body["delivery_count"]
        answered_uuid = body["alert_uuid"]
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"POST {api}/webhooks/alerts: unexpected answer {body!r}") from exc
    if answered_uuid != plan["alert_uuid"] or severity not in ("critical", "standard"):
        raise CheckFailed(f"POST {api}/webhooks/alerts with {plan['alert_uuid']}: unexpected answer {body!r}")
    return PostedAlert(
        plan["alert_uuid"], plan["location"], plan["label"], severity, delivery_count, posted_at
    )


def expected_receipts(alerts: Iterable[PostedAlert], users: Sequence[User]) -> set[Pair]:
    """Who must hear of each alert: its shop's STANDARD users, and everyone there when it is critical."""
    return {
        (alert.alert_uuid, user.user_uuid)
        for alert in alerts
        for user in users
        if alert.location in user.locations and (alert.severity == "critical" or user.level == "STANDARD")
    }


def fetch_received(session: requests.Session, stub: str, alert_uuids: Iterable[str]) -> Received:
    """Everything the stub holds for the given alerts."""
    messages: list[dict[str, Any]] = []
    raw_duplicates = 0
    for alert_uuid in alert_uuids:
        body = _call(session, "GET", f"{stub}/messages", 200, params={"alert_uuid": alert_uuid})
        messages.extend(body["messages"])
        raw_duplicates += body["duplicates"]
    return Received(messages, raw_duplicates)


def message_pair(message: Mapping[str, Any]) -> Pair:
    """The (alert, user) pair a stored message is for."""
    return message["alert_uuid"], message["target_user_uuid"]


def received_pairs(messages: Iterable[Mapping[str, Any]]) -> Counter[Pair]:
    """How many stored messages each (alert, user) pair has."""
    return Counter(map(message_pair, messages))


def poll_receipts(
    session: requests.Session, stub: str, alert_uuids: Sequence[str], expected: set[Pair], timeout: float
) -> Received:
    """Poll the stub until every expected receipt is there or `timeout` seconds pass; the last view."""
    deadline = time.monotonic() + timeout
    while True:
        received = fetch_received(session, stub, alert_uuids)
        waiting = len(expected - received_pairs(received.messages).keys())
        if not waiting or time.monotonic() >= deadline:
            return received
        log.info("waiting for %d of %d receipts", waiting, len(expected))
        time.sleep(POLL_INTERVAL)


def compare(alerts: Sequence[PostedAlert], expected: set[Pair], received: Received) -> Comparison:
    """Everything missing, extra or duplicated, and every alert whose delivery_count is wrong."""
    counts = received_pairs(received.messages)
    per_alert = Counter(alert_uuid for alert_uuid, _ in expected)
    return Comparison(
        expected=len(expected),
        received=len(received.messages),
        missing=sorted(expected - counts.keys()),
        extra=sorted(counts.keys() - expected),
        duplicated=sorted(pair for pair, n in counts.items() if n > 1),
        raw_duplicates=received.raw_duplicates,
        count_mismatches=[
            (a.alert_uuid, a.delivery_count, per_alert[a.alert_uuid])
            for a in alerts
            if a.delivery_count != per_alert[a.alert_uuid]
        ],
    )


def latencies_ms(alerts: Iterable[PostedAlert], messages: Iterable[Mapping[str, Any]]) -> list[float]:
    """Milliseconds from posting each alert to the first receipt of each of its (alert, user) pairs."""
    posted_at = {a.alert_uuid: a.posted_at for a in alerts}
    first: dict[Pair, float] = {}
    for m in messages:
        pair = message_pair(m)
        first[pair] = min(first.get(pair, math.inf), m["received_at"])
    # Both clocks are this machine's (stub and e2e run side by side), so the difference is meaningful.
    return [(at - posted_at[alert_uuid]) * 1000 for (alert_uuid, _), at in first.items()]


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (0 < pct <= 100) of non-empty `values`."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]


def format_report(
    alerts: Sequence[PostedAlert], comparison: Comparison, latencies: Sequence[float], timeout: float
) -> str:
    """The summary printed at the end of a run, followed by the first few problems."""
    c = comparison
    critical = sum(a.severity == "critical" for a in alerts)
    if latencies:
        latency = (
            f"p50 {percentile(latencies, 50):.0f}  p95 {percentile(latencies, 95):.0f}  "
            f"max {max(latencies):.0f}"
        )
    else:
        latency = "n/a"
    lines = [
        f"alerts posted:      {len(alerts)} ({critical} critical, {len(alerts) - critical} standard)",
        f"expected receipts:  {c.expected}",
        f"received:           {c.received}",
        f"missing:            {len(c.missing)}",
        f"extra:              {len(c.extra)}",
        f"duplicated:         {len(c.duplicated)} pairs stored twice, "
        f"{c.raw_duplicates} re-sent with a used Idempotency-Key",
        f"delivery_count:     {len(c.count_mismatches)} wrong",
        f"latency (ms):       {latency}",
    ]
    if c.missing:
        lines.append(f"timed out after {timeout:g}s; first missing (alert, user): {c.missing[:SHOWN]}")
    if c.extra:
        lines.append(f"first extra (alert, user): {c.extra[:SHOWN]}")
    if c.duplicated:
        lines.append(f"first duplicated (alert, user): {c.duplicated[:SHOWN]}")
    if c.count_mismatches:
        lines.append(
            f"first delivery_count mismatches (alert, reported, expected): {c.count_mismatches[:SHOWN]}"
        )
    lines.append("OK" if c.ok else "FAILED")
    return "\n".join(lines)


def run(api: str, stub: str, alerts_count: int, timeout: float, seed: int | None) -> int:
    """One end-to-end pass against a running stack; the exit code."""
    session = requests.Session()
    log.info("stub control state: %s", probe_stub(session, stub))
    users = fetch_users(session, api)
    shops = fetch_locations(session, api)
    rng = random.Random(seed)
    levels = plan_preferences(users, rng)
    apply_preferences(session, api, levels)
    users = with_levels(users, levels)
    log.info("set levels of %d users, posting %d alerts", len(levels), alerts_count)
    alerts = [post_alert(session, api, plan) for plan in plan_alerts(shops, alerts_count, rng)]
    expected = expected_receipts(alerts, users)
    received = poll_receipts(session, stub, [a.alert_uuid for a in alerts], expected, timeout)
    comparison = compare(alerts, expected, received)
    print(format_report(alerts, comparison, latencies_ms(alerts, received.messages), timeout))
    return 0 if comparison.ok else 1


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the check and return its exit code."""
    parser = argparse.ArgumentParser(
        description="End-to-end check of a running nootification stack: set a few users' levels, post "
        "alerts to the API, then wait until the stub provider has received exactly the expected "
        "notifications, once each.",
        epilog="Exit status: 0 all good, 1 a mismatch or a timeout, 2 the API or the stub cannot be reached.",
    )
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="API base URL (default: %(default)s)")
    parser.add_argument(
        "--stub", default="http://127.0.0.1:5000", help="stub provider base URL (default: %(default)s)"
    )
    parser.add_argument(
        "-n", "--alerts", type=_positive_int, default=20, help="alerts to post (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the receipts to arrive (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed for choosing users, labels and shops, to replay a run (alert uuids are always new)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api, stub = args.api.rstrip("/"), args.stub.rstrip("/")
    try:
        return run(api, stub, args.alerts, args.timeout, args.seed)
    except StackUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
