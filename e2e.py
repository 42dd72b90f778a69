"""End-to-end check: post alerts to a running API and verify what the stub providers received, per channel."""

import argparse
import json
import logging
import math
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import requests

log = logging.getLogger(__name__)

LABELS = ("theft", "suspicious", "normal")
DEMO_USERS = 4
REQUEST_TIMEOUT = 10.0
POLL_INTERVAL = 0.5
SHOWN = 5
PUSH = "push"
WEB_PUSH = "webpush"
ANY_LABEL = "*"
ALERTS_PATH = "/webhooks/alerts"
# The original service's end-to-end client posts ten alerts spotted in March 2025 over its list of shops. That
# list lacks a comma after "Carrefour", so Python joins "Carrefour" "Leclerc" into one name no shop has: nine
# names, and the API must refuse every alert for CarrefourLeclerc.
ORIGINAL_SHOPS = (
    "CarrefourLeclerc",
    "Auchan",
    "Intermarché",
    "Monoprix",
    "Super U",
    "Casino",
    "Franprix",
    "Cora",
    "Carrefour Market",
)
ORIGINAL_ALERTS = 10
MARCH_2025 = (datetime(2025, 3, 1, tzinfo=UTC).timestamp(), datetime(2025, 4, 1, tzinfo=UTC).timestamp())
# The channels e2e gives contact points at the stub, and the stub's path for each; an address e2e made ends
# in E2E_MARK and the user's uuid.
# Where the quick start and compose send outcome events (VENDOR_OUTCOME_URL): the stub's generic webhook.
VENDOR_HOOK = "generic/vendor"
STUB_WEBHOOKS = {"webhook": "webhook/generic", "teams": "teams/webhook"}
E2E_MARK = "e2e-"
# A delivery in one of these states still goes out later.
PENDING_DELIVERY = frozenset({"pending", "queued", "sending", "scheduled"})
# A later step of a shop's ladder goes out within this many seconds of its due time.
LADDER_LATENESS = 2.0
SMS, VOICE = "sms", "voice"
QUICK_START_TWILIO_TOKEN = "stub-only"  # the Makefile's and compose's dummy, which only the stub accepts

Delivery = tuple[str, str, str]
"""(alert_uuid, user_uuid, channel): one expected or received notification."""

Point = tuple[str, str]
"""(user_uuid, channel): one user's contact point on one channel."""


class StackUnreachable(Exception):
    """The API or the stub could not be reached at all."""


class CheckFailed(Exception):
    """The API or the stub answered, but not as the contract says."""


@dataclass(frozen=True)
class Contact:
    """A user's contact point on one channel; a level of None follows the user's level."""

    channel: str
    address: str | None
    level: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class User:
    """A user as far as routing goes: their level, the shops they belong to, their stored contact points."""

    user_uuid: str
    level: str
    locations: frozenset[str]
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True)
class Route:
    """A routing rule: the channels a label (or "*", any label) goes out on, at one shop or (None) at all."""

    label: str
    channels: frozenset[str]
    location: str | None = None


@dataclass(frozen=True)
class PostedAlert:
    """An alert this run posted, what the API said about it and when it was posted.

    The severity is None, and the delivery count 0, when the API refused the alert (an unknown shop).
    """

    alert_uuid: str
    location: str
    label: str
    severity: str | None
    delivery_count: int
    posted_at: float
    url: str


@dataclass(frozen=True)
class Receipt:
    """A message the stub stored for this run, the delivery it is for, and how often it arrived."""

    delivery: Delivery
    received_at: float
    # More than 1 when the message was sent again with an idempotency key the stub had seen.
    receipts: int = 1


@dataclass(frozen=True)
class Comparison:
    """Expected against received, per channel, with everything that does not match."""

    expected: dict[str, int]
    received: dict[str, int]
    missing: list[Delivery]
    extra: list[Delivery]
    duplicated: list[Delivery]
    raw_duplicates: int
    count_mismatches: list[tuple[str, int, int]]

    @property
    def ok(self) -> bool:
        """True when every expected notification arrived exactly once and nothing else did."""
        return not (
            self.missing or self.extra or self.duplicated or self.raw_duplicates or self.count_mismatches
        )


@dataclass(frozen=True)
class Stack:
    """The stack as e2e talks to it: the API, the stub, a session without credentials and an admin one, and
    the alerts this run opened (the API accepted), to close at the end."""

    api: str
    stub: str
    session: requests.Session
    admin: requests.Session
    opened: list[PostedAlert] = field(default_factory=list)
    # The stack's TWILIO_AUTH_TOKEN, with which the stub signs a key pressed or an SMS sent as Twilio would.
    twilio_token: str = QUICK_START_TWILIO_TOKEN


def _send(
    session: requests.Session, method: str, url: str, statuses: tuple[int, ...], **kwargs: Any
) -> requests.Response:
    try:
        response = session.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
    except requests.ConnectionError as exc:
        raise StackUnreachable(f"cannot reach {url} (is the stack running?): {exc}") from exc
    except requests.Timeout as exc:
        raise CheckFailed(f"{method} {url} did not answer within {REQUEST_TIMEOUT:g}s") from exc
    if response.status_code not in statuses:
        expected = " or ".join(map(str, statuses))
        raise CheckFailed(
            f"{method} {url} answered {response.status_code}, expected {expected}: {response.text[:200]}"
        )
    return response


def _call(session: requests.Session, method: str, url: str, status: int, **kwargs: Any) -> Any:
    response = _send(session, method, url, (status,), **kwargs)
    try:
        return response.json()
    except ValueError as exc:
        raise CheckFailed(f"{method} {url} did not answer JSON: {response.text[:200]}") from exc


def probe_stub(session: requests.Session, stub: str) -> dict[str, Any]:
    """The stub's control state; fails early, before anything is posted, if the stub is down."""
    return _call(session, "GET", f"{stub}/control", 200)


def fetch_users(session: requests.Session, api: str) -> list[User]:
    """Every user with their level, shops and contact points."""
    body = _call(session, "GET", f"{api}/users", 200)
    try:
        return [
            User(
                u["user_uuid"],
                u["level"],
                frozenset(u["locations"]),
                tuple(
                    Contact(c["channel"], c["address"], c["level"], c["enabled"])
                    for c in u.get("contact_points", [])
                ),
            )
            for u in body
        ]
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"GET {api}/users: unexpected user shape ({exc!r})") from exc


def fetch_routes(session: requests.Session, api: str) -> list[Route]:
    """Every routing rule; a rule for every shop may come without a location."""
    body = _call(session, "GET", f"{api}/routes", 200)
    try:
        return [Route(r["label"], frozenset(r["channels"]), r.get("location")) for r in body]
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckFailed(f"GET {api}/routes: unexpected route shape ({exc!r})") from exc


def fetch_ladders(session: requests.Session, api: str) -> dict[str, frozenset[str]]:
    """The channels of each shop's fallback ladder, for the shops that have one."""
    body = _call(session, "GET", f"{api}/locations", 200)
    try:
        return {
            location["name"]: frozenset(
                channel for step in location["ladder"] for channel in step["channels"]
            )
            for location in body
            if location.get("ladder")
        }
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"GET {api}/locations: unexpected ladder shape ({exc!r})") from exc


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


def fetch_ringing_shops(session: requests.Session, api: str) -> list[str]:
    """The names of the shops where every alert rings (a grouping window of 0): those the checks of each
    alert's deliveries post to (a shop that groups alerts is `check_calm`'s)."""
    body = _call(session, "GET", f"{api}/locations", 200)
    try:
        names = [location["name"] for location in body if location["group_window_seconds"] == 0]
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"GET {api}/locations: unexpected location shape ({exc!r})") from exc
    if not names:
        raise CheckFailed(f"GET {api}/locations: no shop where every alert rings (group_window_seconds 0)")
    return names


def plan_preferences(users: Sequence[User], rng: random.Random) -> dict[str, str]:
    """Levels for a few demo users who belong to a shop: alternately STANDARD and CRITICAL."""
    candidates = sorted(u.user_uuid for u in users if u.locations)
    chosen = rng.sample(candidates, min(DEMO_USERS, len(candidates)))
    return {user_uuid: ("STANDARD", "CRITICAL")[i % 2] for i, user_uuid in enumerate(chosen)}


@dataclass(frozen=True)
class Tokens:
    """The bearer tokens e2e uses, as `flask tokens demo` writes them: admin, alerts:write, one per user."""

    admin: str
    alerts: str
    users: Mapping[str, str]


def load_tokens(path: Path) -> Tokens:
    """Read the tokens file, as a client of the service would."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Tokens(admin=data["admin"], alerts=data["alerts"], users=data["users"])
    except (OSError, ValueError, KeyError) as exc:
        raise StackUnreachable(f"cannot read the tokens file {path} (did `make run` start?): {exc}") from exc


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def connect(api: str, stub: str, admin_token: str, twilio_token: str) -> Stack:
    """Sessions without credentials and with the admin token; fails early, if the stub is down."""
    session = requests.Session()
    log.info("stub control state: %s", probe_stub(session, stub))
    admin = requests.Session()
    admin.headers.update(bearer(admin_token))
    return Stack(api, stub, session, admin, twilio_token=twilio_token)


def apply_preferences(
    session: requests.Session, api: str, levels: Mapping[str, str], tokens: Mapping[str, str]
) -> None:
    """PUT each level with that user's own token, and check the API echoes the user and the level."""
    for user_uuid, level in levels.items():
        sent = {"user_id": user_uuid, "level": level}
        body = _call(session, "PUT", f"{api}/preferences", 200, json=sent, headers=bearer(tokens[user_uuid]))
        if not isinstance(body, dict) or {name: body.get(name) for name in sent} != sent:
            raise CheckFailed(f"PUT {api}/preferences with {sent} answered {body}")


def with_levels(users: Sequence[User], levels: Mapping[str, str]) -> list[User]:
    """The users as they are once `levels` are applied."""
    return [replace(u, level=levels.get(u.user_uuid, u.level)) for u in users]


def alert_plan(location: str, label: str) -> dict[str, Any]:
    """An alert payload without time_spotted, with a fresh uuid and a video URL that carries it."""
    # Fresh uuids even with --seed: a replayed uuid would collide with an earlier run's alert.
    alert_uuid = str(uuid.uuid4())
    return {
        "url": f"https://media.example.com/{alert_uuid}.mp4",
        "location": location,
        "alert_uuid": alert_uuid,
        "label": label,
    }


def plan_alerts(shops: Sequence[str], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Alert payloads without time_spotted; labels cycle, so any 2 or more include a theft and a non-theft."""
    labels = [LABELS[i % len(LABELS)] for i in range(count)]
    rng.shuffle(labels)
    return [alert_plan(rng.choice(shops), label) for label in labels]


def plan_original_alerts(rng: random.Random) -> list[dict[str, Any]]:
    """The original client's ten alerts: each of its shop names, then more at random, in random order.

    Labels are drawn at random and time_spotted at a random moment of March 2025, as the original does.
    """
    extra = ORIGINAL_ALERTS - len(ORIGINAL_SHOPS)
    names = [*ORIGINAL_SHOPS, *rng.choices(ORIGINAL_SHOPS, k=extra)]
    rng.shuffle(names)
    return [
        {**alert_plan(name, rng.choice(LABELS)), "time_spotted": rng.uniform(*MARCH_2025)} for name in names
    ]


def post_alert(
    session: requests.Session, api: str, plan: Mapping[str, Any], token: str | None
) -> PostedAlert:
    """POST one alert, with an alerts:write token if given, spotted when it is posted unless the plan says."""
    posted_at = time.time()
    body = _call(
        session,
        "POST",
        api + ALERTS_PATH,
        201,
        json={**plan, "time_spotted": plan.get("time_spotted", posted_at)},
        headers=bearer(token) if token else None,
    )
    try:
        severity, delivery_count = body["severity"], body["delivery_count"]
        answered_uuid = body["alert_uuid"]
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"POST {api}{ALERTS_PATH}: unexpected answer {body!r}") from exc
    if answered_uuid != plan["alert_uuid"] or severity not in ("critical", "standard"):
        raise CheckFailed(f"POST {api}{ALERTS_PATH} with {plan['alert_uuid']}: unexpected answer {body!r}")
    return PostedAlert(
        plan["alert_uuid"], plan["location"], plan["label"], severity, delivery_count, posted_at, plan["url"]
    )


def open_alert(stack: Stack, plan: Mapping[str, Any], token: str | None) -> PostedAlert:
    """POST one alert (as `post_alert`) and keep it among those the run closes at the end."""
    alert = post_alert(stack.session, stack.api, plan, token)
    stack.opened.append(alert)
    return alert


def check_location_refused(body: Any) -> None:
    """Check an answer is the JSON error shape of a 422 whose errors name the location field."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not (
        isinstance(errors, dict)
        and isinstance(errors.get("location"), list)
        and errors["location"]
        and body.get("code") == 422
        and all(isinstance(body.get(key), str) for key in ("status", "message"))
    ):
        raise CheckFailed(
            f"an alert for an unknown shop was refused, but not as a 422 naming location: {body!r}"
        )


def post_original_alert(
    session: requests.Session, api: str, plan: Mapping[str, Any], shops: Container[str]
) -> PostedAlert:
    """POST an alert as the original client does, with neither token nor signature.

    A known shop must answer 201; any other name a 422 that names the location, and nothing is delivered.
    """
    if plan["location"] in shops:
        return post_alert(session, api, plan, token=None)
    posted_at = time.time()
    check_location_refused(_call(session, "POST", api + ALERTS_PATH, 422, json=plan))
    return PostedAlert(plan["alert_uuid"], plan["location"], plan["label"], None, 0, posted_at, plan["url"])


def contacts_of(user: User) -> list[Contact]:
    """The user's contact points, with push implied (no address, the user's level) unless one is stored."""
    if any(contact.channel == PUSH for contact in user.contacts):
        return list(user.contacts)
    return [Contact(PUSH, None), *user.contacts]


def routed_channels(routes: Iterable[Route], location: str, label: str) -> frozenset[str] | None:
    """The channels of the most specific rule for this shop and label; None when none applies (any channel).

    Precedence: this shop and this label, this shop and any label, every shop and this label, every shop
    and any label.
    """
    matching = [r for r in routes if r.location in (location, None) and r.label in (label, ANY_LABEL)]
    if not matching:
        return None
    return min(matching, key=lambda r: (r.location is None, r.label == ANY_LABEL)).channels


def wants(level: str, severity: str) -> bool:
    """STANDARD wants every alert, CRITICAL only critical ones."""
    return level == "STANDARD" or severity == "critical"


def expected_deliveries(
    alerts: Iterable[PostedAlert],
    users: Sequence[User],
    routes: Sequence[Route],
    ladders: Mapping[str, frozenset[str]] | None = None,
) -> set[Delivery]:
    """Each (alert, user, channel) that must be notified, by the rule the service follows.

    A user of the alert's shop, on each enabled contact point whose channel is routed for the alert (for a
    critical alert in a shop with a ladder, `ladders[shop]`: its channels replace the routes) and whose
    level (its own, else the user's) wants the alert's severity. Every step of a ladder is expected: nobody
    acts on these alerts before they are checked.
    """
    expected = set()
    for alert in alerts:
        ladder = (ladders or {}).get(alert.location) if alert.severity == "critical" else None
        allowed = ladder or routed_channels(routes, alert.location, alert.label)
        for user in users:
            if alert.location not in user.locations:
                continue
            for contact in contacts_of(user):
                if (
                    contact.enabled
                    and (allowed is None or contact.channel in allowed)
                    and wants(contact.level or user.level, alert.severity)
                ):
                    expected.add((alert.alert_uuid, user.user_uuid, contact.channel))
    return expected


def fetch_messages(session: requests.Session, stub: str) -> list[dict[str, Any]]:
    """Every message the stub holds, on every channel."""
    body = _call(session, "GET", f"{stub}/messages", 200)
    try:
        return list(body["messages"])
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"GET {stub}/messages: unexpected answer shape ({exc!r})") from exc


def message_channel(message: Mapping[str, Any]) -> str:
    """The channel a stored message came in on; push messages keep the provider's wire format, without one."""
    return message.get("channel", PUSH)


def message_alert(message: Mapping[str, Any], alerts: Sequence[PostedAlert]) -> str | None:
    """The alert of this run a message is about: by its alert_uuid, else by the video link it carries.

    The link may be in the text (SMS, Telegram, email) or only in the payload (a Teams card's button).
    """
    if message.get("alert_uuid"):
        return next((a.alert_uuid for a in alerts if a.alert_uuid == message["alert_uuid"]), None)
    received = (message.get("text") or "") + json.dumps(message.get("payload") or {})
    return next((a.alert_uuid for a in alerts if a.url in received), None)


def address_key(address: str) -> str:
    """How the stub names an address: a webhook URL by its last two path segments, anything else as is."""
    if address.startswith(("http://", "https://")):
        return "/".join(address.rstrip("/").split("/")[-2:])
    return address


def plan_webhooks(users: Sequence[User], stub: str) -> dict[Point, str]:
    """Webhook and Teams contact points at the stub for one user of each shop, so every theft uses them.

    The demo data has none: their URLs depend on where the stub listens.
    """
    first_of_shop = {}
    for user in sorted(users, key=lambda u: u.user_uuid):
        for shop in user.locations:
            first_of_shop.setdefault(shop, user.user_uuid)
    return {
        (user_uuid, channel): f"{stub}/{path}/{E2E_MARK}{user_uuid}"
        for user_uuid in sorted(set(first_of_shop.values()))
        for channel, path in STUB_WEBHOOKS.items()
    }


def e2e_webhooks(users: Iterable[User]) -> list[Point]:
    """The stored contact points that an e2e run made, wherever its stub listened."""
    return [
        (user.user_uuid, contact.channel)
        for user in users
        for contact in user.contacts
        if contact.channel in STUB_WEBHOOKS
        and f"/{STUB_WEBHOOKS[contact.channel]}/{E2E_MARK}" in (contact.address or "")
    ]


def put_contact_points(session: requests.Session, api: str, addresses: Mapping[Point, str]) -> None:
    """Create or replace each contact point with its address."""
    for (user_uuid, channel), address in addresses.items():
        _call(
            session,
            "PUT",
            f"{api}/users/{user_uuid}/contact-points/{channel}",
            200,
            json={"address": address},
        )


def remove_contact_points(session: requests.Session, api: str, points: Iterable[Point]) -> bool:
    """Delete each contact point (one already gone is fine) and log those that stay; True when none stays."""
    removed = True
    for user_uuid, channel in points:
        try:
            _send(session, "DELETE", f"{api}/users/{user_uuid}/contact-points/{channel}", (204, 404))
        except (StackUnreachable, CheckFailed) as exc:
            log.error("could not remove the %s contact point of %s: %s", channel, user_uuid, exc)
            removed = False
    return removed


def attribute(
    messages: Iterable[Mapping[str, Any]],
    alerts: Sequence[PostedAlert],
    users: Sequence[User],
    expected: set[Delivery],
) -> list[Receipt]:
    """This run's messages, each attributed to an (alert, user, channel); other runs' messages are left out.

    A push message names its user. Any other is the user's whose contact point on that channel has the
    message's address, or "?<address>" when nobody's has. When users share an address, its messages for
    an alert go to the users expected there first, in arrival order, so the counts stay right.
    """
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for user in users:
        for contact in user.contacts:
            if contact.address is not None:
                holders[contact.channel, address_key(contact.address)].append(user.user_uuid)
    seen: Counter[tuple[str, str, str]] = Counter()
    receipts = []
    for message in sorted(messages, key=lambda m: m["received_at"]):
        alert_uuid = message_alert(message, alerts)
        if alert_uuid is None:
            continue
        channel = message_channel(message)
        if channel == PUSH:
            user_uuid = message["target_user_uuid"]
        else:
            address = address_key(str(message["address"]))
            candidates = sorted(
                holders[channel, address], key=lambda u: ((alert_uuid, u, channel) not in expected, u)
            )
            nth = seen[alert_uuid, channel, address]
            seen[alert_uuid, channel, address] += 1
            user_uuid = candidates[min(nth, len(candidates) - 1)] if candidates else f"?{address}"
        receipts.append(
            Receipt((alert_uuid, user_uuid, channel), message["received_at"], message.get("receipts", 1))
        )
    return receipts


def poll_receipts(
    session: requests.Session,
    stub: str,
    alerts: Sequence[PostedAlert],
    users: Sequence[User],
    expected: set[Delivery],
    timeout: float,
) -> list[Receipt]:
    """Poll the stub until every expected delivery is there or `timeout` seconds pass; the last view."""
    deadline = time.monotonic() + timeout
    while True:
        receipts = attribute(fetch_messages(session, stub), alerts, users, expected)
        waiting = len(expected - {r.delivery for r in receipts})
        if not waiting or time.monotonic() >= deadline:
            return receipts
        log.info("waiting for %d of %d receipts", waiting, len(expected))
        time.sleep(POLL_INTERVAL)


def heard(expected: set[Delivery]) -> set[Delivery]:
    """The expected deliveries the stub's record can show: all but calls, whose record names no alert."""
    return {delivery for delivery in expected if delivery[2] != VOICE}


def compare(
    alerts: Sequence[PostedAlert], expected: set[Delivery], receipts: Sequence[Receipt]
) -> Comparison:
    """Everything missing, extra or duplicated, and every alert whose delivery_count is wrong.

    A call names no alert at the stub: calls count in delivery_count only (the ladder check presses one).
    """
    counts = Counter(r.delivery for r in receipts)
    # delivery_count is every channel's deliveries of the alert.
    per_alert = Counter(alert_uuid for alert_uuid, _, _ in expected)
    expected = heard(expected)
    return Comparison(
        expected=dict(Counter(channel for _, _, channel in expected)),
        received=dict(Counter(channel for _, _, channel in counts.elements())),
        missing=sorted(expected - counts.keys()),
        extra=sorted(counts.keys() - expected),
        duplicated=sorted(delivery for delivery, n in counts.items() if n > 1),
        raw_duplicates=sum(r.receipts - 1 for r in receipts),
        count_mismatches=[
            (a.alert_uuid, a.delivery_count, per_alert[a.alert_uuid])
            for a in alerts
            if a.delivery_count != per_alert[a.alert_uuid]
        ],
    )


def latencies_ms(alerts: Iterable[PostedAlert], receipts: Iterable[Receipt]) -> dict[str, list[float]]:
    """Per channel, milliseconds from posting each alert to the first receipt of each of its deliveries."""
    posted_at = {a.alert_uuid: a.posted_at for a in alerts}
    first: dict[Delivery, float] = {}
    for r in receipts:
        first[r.delivery] = min(first.get(r.delivery, math.inf), r.received_at)
    per_channel: dict[str, list[float]] = defaultdict(list)
    # Both clocks are this machine's (stub and e2e run side by side), so the difference is meaningful.
    for (alert_uuid, _, channel), at in first.items():
        per_channel[channel].append((at - posted_at[alert_uuid]) * 1000)
    return dict(per_channel)


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (0 < pct <= 100) of non-empty `values`."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]


def _latency(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {percentile(values, 50):.0f}  p95 {percentile(values, 95):.0f}  max {max(values):.0f}"


def format_report(
    alerts: Sequence[PostedAlert],
    comparison: Comparison,
    latencies: Mapping[str, Sequence[float]],
    timeout: float,
) -> str:
    """The summary printed at the end of a run: totals, a line per channel, then the first few problems."""
    c = comparison
    critical = sum(a.severity == "critical" for a in alerts)
    standard = sum(a.severity == "standard" for a in alerts)
    outcomes = f"{critical} critical, {standard} standard"
    refused = sorted({a.location for a in alerts if a.severity is None})
    if refused:
        outcomes += (
            f", {len(alerts) - critical - standard} refused with 422 (unknown shop: {', '.join(refused)})"
        )
    lines = [
        f"alerts posted:      {len(alerts)} ({outcomes})",
        f"expected receipts:  {sum(c.expected.values())}",
        f"received:           {sum(c.received.values())}",
        f"missing:            {len(c.missing)}",
        f"extra:              {len(c.extra)}",
        f"duplicated:         {len(c.duplicated)} deliveries stored twice, "
        f"{c.raw_duplicates} re-sent with a used idempotency key",
        f"delivery_count:     {len(c.count_mismatches)} wrong (the total across channels)",
        f"{'channel':<10}{'expected':>9}{'received':>9}{'missing':>8}{'extra':>6}{'duplicated':>11}"
        "  latency (ms)",
    ]
    missing, extra, duplicated = (Counter(d[2] for d in ds) for ds in (c.missing, c.extra, c.duplicated))
    for channel in sorted({*c.expected, *c.received}, key=lambda channel: (channel != PUSH, channel)):
        lines.append(
            f"{channel:<10}{c.expected.get(channel, 0):>9}{c.received.get(channel, 0):>9}"
            f"{missing[channel]:>8}{extra[channel]:>6}{duplicated[channel]:>11}  "
            f"{_latency(latencies.get(channel, []))}"
        )
    lines.append(f"latency (ms):       {_latency([ms for values in latencies.values() for ms in values])}")
    if c.missing:
        lines.append(
            f"timed out after {timeout:g}s; first missing (alert, user, channel): {c.missing[:SHOWN]}"
        )
    if c.extra:
        lines.append(f"first extra (alert, user, channel): {c.extra[:SHOWN]}")
    if c.duplicated:
        lines.append(f"first duplicated (alert, user, channel): {c.duplicated[:SHOWN]}")
    if c.count_mismatches:
        lines.append(
            f"first delivery_count mismatches (alert, reported, expected): {c.count_mismatches[:SHOWN]}"
        )
    lines.append("OK" if c.ok else "FAILED")
    return "\n".join(lines)


def check_receipts(
    stack: Stack,
    alerts: Sequence[PostedAlert],
    users: Sequence[User],
    routes: Sequence[Route],
    timeout: float,
) -> bool:
    """Wait for the receipts the rule predicts for the alerts, print the report; True when all is right."""
    expected = expected_deliveries(alerts, users, routes, fetch_ladders(stack.admin, stack.api))
    receipts = poll_receipts(stack.session, stack.stub, alerts, users, heard(expected), timeout)
    comparison = compare(alerts, expected, receipts)
    print(format_report(alerts, comparison, latencies_ms(alerts, receipts), timeout))
    return comparison.ok


def staff_links(messages: Iterable[Mapping[str, Any]], alert_uuids: Iterable[str]) -> dict[str, str]:
    """The action links, by user, of the alert whose push messages reached the most people: each as sent
    (scheme, host, port and path), to be followed as a phone would, wherever it points."""
    by_alert: dict[str, dict[str, str]] = {alert_uuid: {} for alert_uuid in alert_uuids}
    for message in messages:
        links = by_alert.get(message.get("alert_uuid"))
        if links is not None and message_channel(message) == PUSH and message.get("action_url"):
            links[message["target_user_uuid"]] = message["action_url"]
    return max(by_alert.values(), key=len, default={})


def vendor_received(stack: Stack, alert_uuid: str | None, outcome: str, timeout: float = 30.0) -> bool:
    """Whether the stub, as the camera vendor, receives the alert's outcome event within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in fetch_messages(stack.session, stack.stub):
            data = (message.get("payload") or {}).get("data") or {}
            if (
                message.get("address") == VENDOR_HOOK
                and data.get("alert_uuid") == alert_uuid
                and data.get("outcome") == outcome
            ):
                return True
        time.sleep(POLL_INTERVAL)
    return False


def editable_for_others(
    messages: Sequence[Mapping[str, Any]],
    alerts: Sequence[PostedAlert],
    users: Sequence[User],
    alert_uuid: str | None,
    claimer_uuid: str | None,
) -> list[Mapping[str, Any]]:
    """The claimed alert's Slack (bot) and Telegram messages to people other than the one who claimed it: the
    service edits those, never the claimer's own."""
    claimer = next((u for u in users if u.user_uuid == claimer_uuid), None)
    claimers_chats = {(c.channel, c.address) for c in claimer.contacts} if claimer else set()
    return [
        m
        for m in messages
        if message_channel(m) in ("slack", "telegram")
        and not str(m.get("address", "")).startswith("http")
        and message_alert(m, alerts) == alert_uuid
        and (message_channel(m), m.get("address")) not in claimers_chats
    ]


def others_edited(
    stack: Stack,
    messages: Sequence[Mapping[str, Any]],
    alerts: Sequence[PostedAlert],
    users: Sequence[User],
    state: Mapping,
    claimer_uuid: str | None,
    timeout: float = 30.0,
) -> bool:
    """Whether, once claimed, the others' Slack (bot) and Telegram messages were edited to say who is on it;
    true at once when there were none."""
    if not editable_for_others(messages, alerts, users, state.get("alert_uuid"), claimer_uuid):
        return True
    # "Camille is on it: ...", "Camille s'en occupe : ...": in the shop's language, the name first.
    notice = f"{state.get('claimed_by')} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        edits = _call(stack.session, "GET", f"{stack.stub}/edits", 200).get("edits", [])
        if any(str(edit.get("text", "")).startswith(notice) for edit in edits):
            return True
        time.sleep(POLL_INTERVAL)
    return False


def check_staff_loop(stack: Stack, alerts: Sequence[PostedAlert], users: Sequence[User]) -> bool:
    """Through the action links of one alert: the page, a claim, a second person's claim refused (when the
    alert reached two), an outcome, then the alert's state. Skipped when no push message went out."""
    messages = fetch_messages(stack.session, stack.stub)
    posted = {alert.alert_uuid for alert in alerts}
    if not any(message_channel(m) == PUSH and m.get("alert_uuid") in posted for m in messages):
        log.warning("staff loop: skipped, no push message went out for the posted alerts")
        return True
    links = staff_links(messages, [alert.alert_uuid for alert in alerts])
    if not links:
        log.error("staff loop: the push messages carry no action link")
        return False
    people = list(links.items())
    (first, first_link), second_link = people[0], people[-1][1]
    page = _send(stack.session, "GET", first_link, (200,))
    if "claim-form" not in page.text:
        raise CheckFailed(f'GET {first_link}: the staff page has no "I\'m on it" form')
    for link in dict.fromkeys([first_link, second_link]):
        _send(stack.session, "POST", f"{link}/claim", (303,), allow_redirects=False)
    form = {"outcome": "false_alarm", "note": "e2e"}
    outcome_url = f"{second_link}/outcome"
    _send(stack.session, "POST", outcome_url, (303,), data=form, allow_redirects=False)
    state = _call(stack.session, "GET", f"{second_link}/state", 200)
    # A link shows colleagues by name only: who is who comes from the admin API.
    detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{state.get('alert_uuid')}", 200)
    claimer = detail.get("claimed_by")
    checks = {
        "claimed by the first to press": claimer == first,
        "the outcome recorded": state.get("outcome") == "false_alarm",
        "everyone listed as told": len(state.get("told", [])) >= len(links)
        and set(links) <= {delivery["user_uuid"] for delivery in detail.get("deliveries", [])},
        "the camera vendor told": vendor_received(stack, state.get("alert_uuid"), form["outcome"]),
        "the others' chat messages edited": others_edited(stack, messages, alerts, users, state, claimer),
    }
    for what, passed in checks.items():
        level = logging.INFO if passed else logging.ERROR
        log.log(level, "staff loop (%d people): %s: %s", len(people), what, "ok" if passed else state)
    return all(checks.values())


def pushed_link(stack: Stack, alert_uuid: str, user_uuid: str, timeout: float) -> str | None:
    """The action link the user got by push for the alert, once it comes (None past `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        links = staff_links(fetch_messages(stack.session, stack.stub), [alert_uuid])
        if user_uuid in links:
            return links[user_uuid]
        time.sleep(POLL_INTERVAL)
    return None


def check_escalation(
    stack: Stack, tokens: Tokens, users: Sequence[User], ringing: Container[str], timeout: float
) -> bool:
    """A shop (of those where every alert rings) given tiers with a 1 s delay: a critical alert left
    unclaimed reaches tier 2, whose claim through the link stops the steps before tier 3. The shop's own
    escalation settings are put back."""
    shops = {shop for user in users for shop in user.locations if shop in ringing}
    shop = next((s for s in sorted(shops) if len([u for u in users if s not in u.locations]) >= 2), None)
    if shop is None:
        log.warning("escalation: skipped, no shop with two people outside it for its tiers")
        return True
    manager, security = [user.user_uuid for user in users if shop not in user.locations][:2]
    path = f"{stack.api}/locations/{quote(shop, safe='')}"
    before = _call(stack.admin, "GET", path, 200)
    tiers = {"escalate_after": 1, "escalation": [[manager], [security]]}
    _call(stack.admin, "PATCH", path, 200, json=tiers)
    try:
        alert = open_alert(stack, alert_plan(shop, "theft"), tokens.alerts)
        if alert.severity != "critical":
            log.warning("escalation: skipped, theft is not a critical label here")
            return True
        link = pushed_link(stack, alert.alert_uuid, manager, timeout)
        if link is None:
            log.error("escalation: tier 2 was not told within %.0f s", timeout)
            return False
        _send(stack.session, "POST", f"{link}/claim", (303,), allow_redirects=False)
    finally:
        restore = {"escalate_after": before["escalate_after"], "escalation": before["escalation"]}
        _call(stack.admin, "PATCH", path, 200, json=restore)
    detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{alert.alert_uuid}", 200)
    steps = [(step["step"], step["tier"]) for step in detail["escalations"]]
    ok = steps == [(1, 2)] and detail["next_escalation_at"] is None and detail["claimed_by"] == manager
    log.log(logging.INFO if ok else logging.ERROR, "escalation: steps %s, claimed by tier 2: %s", steps, ok)
    return ok


def ladder_steps_sent(stack: Stack, alert_uuid: str, steps: int, timeout: float) -> Mapping[str, Any] | None:
    """The alert's detail once a delivery of each of its ladder's `steps` steps was sent (None past
    `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{alert_uuid}", 200)
        reached = {d["ladder_step"] for d in detail["deliveries"] if d["status"] == "sent"}
        if reached >= set(range(steps)):
            return detail
        time.sleep(POLL_INTERVAL)
    return None


def step_lateness(
    detail: Mapping[str, Any], ladder: Sequence[Mapping[str, Any]]
) -> list[tuple[str, int, float]]:
    """(channel, step, seconds) of each later-step delivery of the shop's own staff that was sent: how long
    after its due time (`after_seconds` after the alert was received) it went."""
    received = datetime.fromisoformat(detail["received_at"])
    return [
        (
            delivery["channel"],
            delivery["ladder_step"],
            (datetime.fromisoformat(delivery["sent_at"]) - received).total_seconds()
            - ladder[delivery["ladder_step"]]["after_seconds"],
        )
        for delivery in detail["deliveries"]
        if delivery["ladder_step"] and not delivery["escalation_step"] and delivery["status"] == "sent"
    ]


def late_steps(detail: Mapping[str, Any], ladder: Sequence[Mapping[str, Any]]) -> list[str]:
    """The later-step deliveries sent more than LADDER_LATENESS s after their due time, described."""
    return [
        f"{channel} step {step} {lateness:.1f} s late"
        for channel, step, lateness in step_lateness(detail, ladder)
        if lateness > LADDER_LATENESS
    ]


def ladder_shop(
    stack: Stack, users: Sequence[User], ringing: Container[str]
) -> tuple[str, list[Mapping[str, Any]]] | None:
    """A shop (where every alert rings) whose ladder calls someone of its staff at its last step, with its
    ladder; None if none does."""
    for shop in sorted({shop for user in users for shop in user.locations if shop in ringing}):
        ladder = _call(stack.admin, "GET", f"{stack.api}/locations/{quote(shop, safe='')}", 200)["ladder"]
        if ladder and len(ladder) > 2 and VOICE in ladder[-1]["channels"]:
            staff = [user for user in users if shop in user.locations]
            if contact_on(staff, VOICE) and contact_on(staff, SMS):
                return shop, ladder
    return None


def contact_on(staff: Iterable[User], channel: str) -> tuple[User, str] | None:
    """The first member of staff with an enabled contact point on the channel, and its address."""
    for user in sorted(staff, key=lambda u: u.user_uuid):
        for contact in user.contacts:
            if contact.channel == channel and contact.enabled and contact.address:
                return user, contact.address
    return None


def call_of(
    stack: Stack, detail: Mapping[str, Any], user_uuid: str, timeout: float
) -> Mapping[str, Any] | None:
    """The call the stub's Twilio placed for the user's call delivery of the alert (its TwiML's key goes to
    `...?delivery=<id>`), once placed; None past `timeout`."""
    ids = [d["id"] for d in detail["deliveries"] if d["channel"] == VOICE and d["user_uuid"] == user_uuid]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = _call(stack.session, "GET", f"{stack.stub}/messages?channel={VOICE}", 200)["messages"]
        placed = [c for c in calls for id_ in ids if f"delivery={id_}" in c["text"]]
        if placed:
            return placed[0]
        time.sleep(POLL_INTERVAL)
    return None


def claimed_by(stack: Stack, alert: PostedAlert) -> str | None:
    """Who is on the alert now, by user uuid."""
    return _call(stack.admin, "GET", f"{stack.api}/alerts/{alert.alert_uuid}", 200).get("claimed_by")


def check_ladder(stack: Stack, users: Sequence[User], ringing: Container[str], timeout: float) -> bool:
    """A critical alert nobody acts on climbs its shop's ladder, each later step within LADDER_LATENESS s of
    its due time, up to a call, where key 1 claims it; then another alert is claimed by an SMS reply "1"."""
    found = ladder_shop(stack, users, ringing)
    if found is None:
        log.warning("ladder: skipped, no shop whose ladder calls someone with a phone")
        return True
    shop, ladder = found
    staff = [user for user in users if shop in user.locations]
    (caller, _), (texter, mobile) = contact_on(staff, VOICE), contact_on(staff, SMS)
    alert = open_alert(stack, alert_plan(shop, "theft"), None)
    if alert.severity != "critical":
        log.warning("ladder: skipped, theft is not a critical label here")
        return True
    detail = ladder_steps_sent(stack, alert.alert_uuid, len(ladder), timeout)
    call = None if detail is None else call_of(stack, detail, caller.user_uuid, timeout)
    if call is None:
        log.error("ladder: %s did not reach its last step, a call, within %.0f s", shop, timeout)
        return False
    late = late_steps(detail, ladder)
    log.log(
        logging.ERROR if late else logging.INFO,
        "ladder: %s climbed %d steps, highest %d at %s; at most %.2f s after its due time; late: %s",
        shop,
        len(ladder),
        detail["ladder_step"],
        detail["ladder_step_at"],
        max(lateness for _, _, lateness in step_lateness(detail, ladder)),
        late or "none",
    )
    pressed = {"call_sid": call["sid"], "digits": "1", "auth_token": stack.twilio_token}
    spoken = _send(stack.session, "POST", f"{stack.stub}/press/twilio/voice", (200,), json=pressed).text
    by_call = claimed_by(stack, alert) == caller.user_uuid
    log.log(
        logging.INFO if by_call else logging.ERROR,
        "ladder: key 1 in the call claims: %s (%s)",
        by_call,
        spoken,
    )

    second = open_alert(stack, alert_plan(shop, "theft"), None)
    if ladder_steps_sent(stack, second.alert_uuid, 2, timeout) is None:
        log.error("ladder: the second alert's SMS step did not go within %.0f s", timeout)
        return False
    reply = {"url": f"{stack.api}/webhooks/twilio/sms", "from": mobile, "body": "1"}
    reply["auth_token"] = stack.twilio_token
    _send(stack.session, "POST", f"{stack.stub}/press/twilio/sms", (200,), json=reply)
    by_sms = claimed_by(stack, second) == texter.user_uuid
    log.log(
        logging.INFO if by_sms else logging.ERROR, "ladder: an SMS reply 1 claims another alert: %s", by_sms
    )
    return not late and detail["ladder_step"] == len(ladder) - 1 and by_call and by_sms


def pushed_by_web_push(stack: Stack, alert_uuid: str, timeout: float) -> Mapping[str, Any] | None:
    """What the stub's push service decrypted for the alert, once it comes (None past `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in fetch_messages(stack.session, stack.stub):
            if message_channel(message) == WEB_PUSH and message.get("alert_uuid") == alert_uuid:
                return message
        time.sleep(POLL_INTERVAL)
    return None


def check_web_push(
    stack: Stack, tokens: Tokens, users: Sequence[User], ringing: Container[str], timeout: float
) -> bool:
    """A phone subscribes through its staff link with the server's VAPID key (the stub is the browser's push
    service and decrypts what it gets); the next theft reaches it by Web Push, and its "seen" receipt reaches
    the delivery. The subscription is removed at the end."""
    key = _send(stack.session, "GET", f"{stack.api}/webpush/vapid-public-key", (200, 404))
    if key.status_code == 404:
        log.warning("web push: skipped, the server has no VAPID key")
        return True
    working = (u for u in sorted(users, key=lambda u: u.user_uuid) if any(s in ringing for s in u.locations))
    user = next(working, None)
    if user is None:
        log.warning("web push: skipped, nobody works at a shop where every alert rings")
        return True
    shop = sorted(s for s in user.locations if s in ringing)[0]
    first = open_alert(stack, alert_plan(shop, "theft"), tokens.alerts)
    link = pushed_link(stack, first.alert_uuid, user.user_uuid, timeout)
    if link is None:
        log.error("web push: no staff link reached %s within %.0f s", user.user_uuid, timeout)
        return False
    browser = {"application_server_key": key.json()["public_key"]}
    subscription = _call(stack.session, "POST", f"{stack.stub}/webpush/subscriptions", 201, json=browser)
    try:
        _call(stack.session, "POST", f"{link}/push-subscription", 201, json=subscription)
        second = open_alert(stack, alert_plan(shop, "theft"), tokens.alerts)
        message = pushed_by_web_push(stack, second.alert_uuid, timeout)
        if message is None:
            log.error("web push: the theft did not reach the phone within %.0f s", timeout)
            return False
        shown = message.get("payload") or {}
        token = urlsplit(shown.get("action_url") or "").path.rsplit("/", 1)[-1]
        receipt = {"state": "seen", "link": token}
        _call(stack.session, "POST", shown.get("receipt_url") or "", 200, json=receipt)
        delivery = _call(stack.admin, "GET", f"{stack.api}/deliveries/{shown.get('delivery_id')}", 200)
    finally:
        remove_contact_points(stack.admin, stack.api, [(user.user_uuid, WEB_PUSH)])
    checks = {
        "decrypted by the push service": bool(shown.get("title"))
        and shown.get("alert_uuid") == second.alert_uuid,
        "urgent, for as long as the alert is fresh": message.get("urgency") == "high"
        and message.get("ttl", 0) > 0,
        "seen on the phone": delivery.get("seen_at") is not None and delivery.get("channel") == WEB_PUSH,
    }
    for what, passed in checks.items():
        log.log(
            logging.INFO if passed else logging.ERROR, "web push: %s: %s", what, "ok" if passed else message
        )
    return all(checks.values())


# Calm: a burst at the grouping shop is BURST_ALERTS thefts BURST_SPACING s apart (within 20 s), grouped over
# CALM_WINDOW s; each person then has at most 2 messages per channel about them (the first, one summary).
BURST_ALERTS = 10
BURST_SPACING = 0.5
CALM_WINDOW = 8
CALM_SETTINGS = ("group_window_seconds", "ladder", "opening_hours", "closures", "off_hours_tier")


def calm_shop(stack: Stack, users: Sequence[User]) -> tuple[str, Mapping[str, Any]] | None:
    """A shop that groups its alerts (a grouping window other than 0) and has staff, with its settings."""
    for location in _call(stack.admin, "GET", f"{stack.api}/locations", 200):
        if location.get("group_window_seconds") != 0 and any(location["name"] in u.locations for u in users):
            return location["name"], location
    return None


def messages_per_point(stack: Stack, alerts: Sequence[PostedAlert]) -> dict[tuple[str, str], int]:
    """How many messages about these alerts each (channel, address) got at the stub; a push by its user."""
    counts: dict[tuple[str, str], int] = {}
    for message in fetch_messages(stack.session, stack.stub):
        if message_alert(message, alerts) is None:
            continue
        channel = message_channel(message)
        key = (channel, message.get("target_user_uuid") or address_key(message.get("address") or ""))
        counts[key] = counts.get(key, 0) + message.get("receipts", 1)
    return counts


def summaries_settled(stack: Stack, first: PostedAlert, timeout: float) -> list[Mapping[str, Any]] | None:
    """The first alert's summaries once none is still to go (None past `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{first.alert_uuid}", 200)
        summaries = [record for record in detail["outbound"] if record["kind"] == "summary"]
        if summaries and not any(record["status"] in PENDING_DELIVERY for record in summaries):
            return summaries
        time.sleep(POLL_INTERVAL)
    return None


def check_burst(stack: Stack, shop: str, timeout: float) -> bool:
    """BURST_ALERTS thefts within 20 s: all stored in one group, the first rings, the others ring nobody, and
    once the window ends each person has at most 2 messages per channel about them (the summary; an edit of
    the first message on Slack and Telegram)."""
    first = open_alert(stack, alert_plan(shop, "theft"), None)
    group = _call(stack.admin, "GET", f"{stack.api}/alerts/{first.alert_uuid}", 200)["group"]
    if group and group["first_alert_uuid"] != first.alert_uuid:
        # An earlier burst of thefts there is still open (the shop's window when it began): wait it out.
        wait = datetime.fromisoformat(group["closes_at"]).timestamp() - time.time() + 1
        log.info("calm: a burst of thefts at %s is open for %.0f s more; waiting", shop, wait)
        time.sleep(max(wait, 0))
        first = open_alert(stack, alert_plan(shop, "theft"), None)
    burst = [first]
    for _ in range(BURST_ALERTS - 1):
        time.sleep(BURST_SPACING)
        burst.append(open_alert(stack, alert_plan(shop, "theft"), None))
    later = burst[1:]
    groups = {
        _call(stack.admin, "GET", f"{stack.api}/alerts/{alert.alert_uuid}", 200)["group"]["id"]
        for alert in burst
    }
    quiet = all(alert.delivery_count == 0 for alert in later) and first.delivery_count > 0
    summaries = summaries_settled(stack, first, CALM_WINDOW + timeout)
    if summaries is None:
        log.error("calm: the burst's summaries did not settle within %.0f s", CALM_WINDOW + timeout)
        return False
    counts = messages_per_point(stack, burst)
    edits = [
        edit
        for edit in _call(stack.session, "GET", f"{stack.stub}/edits", 200)["edits"]
        if edit["received_at"] >= first.posted_at
    ]
    ok = len(groups) == 1 and quiet and counts and max(counts.values()) <= 2 and 2 in counts.values()
    log.log(
        logging.INFO if ok else logging.ERROR,
        "calm: %d thefts at %s in %.0f s, %d group(s), later ones quiet: %s; messages per person and channel "
        "at most %d over %d points; %d summaries (%s), %d chat edits",
        len(burst),
        shop,
        BURST_ALERTS * BURST_SPACING,
        len(groups),
        quiet,
        max(counts.values(), default=0),
        len(counts),
        len(summaries),
        ", ".join(sorted({record["status"] for record in summaries})),
        len(edits),
    )
    return bool(ok)


def check_silence(stack: Stack, shop: str) -> bool:
    """A silence of one label at the shop: an alert of that label reaches nobody and names the silence; a
    theft still rings. The silence is ended at the end, and stays in its history."""
    path = f"{stack.api}/locations/{quote(shop, safe='')}/silences"
    ends = datetime.fromtimestamp(time.time() + 600, UTC).isoformat()
    body = {"labels": ["suspicious"], "ends_at": ends, "comment": "e2e: a silence"}
    silence = _call(stack.admin, "POST", path, 201, json=body)
    try:
        silenced = open_alert(stack, alert_plan(shop, "suspicious"), None)
        theft = open_alert(stack, alert_plan(shop, "theft"), None)
        detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{silenced.alert_uuid}", 200)
    finally:
        ended = _call(stack.admin, "DELETE", f"{path}/{silence['id']}", 200)
    ok = (
        silenced.delivery_count == 0
        and detail["silence_id"] == silence["id"]
        and theft.delivery_count > 0
        and ended["state"] == "ended"
    )
    log.log(
        logging.INFO if ok else logging.ERROR,
        "calm: silence of suspicious at %s: that alert reached %d, named its silence: %s; a theft reached %d",
        shop,
        silenced.delivery_count,
        detail["silence_id"] == silence["id"],
        theft.delivery_count,
    )
    return ok


def check_closed(stack: Stack, shop: str, settings: Mapping[str, Any], users: Sequence[User]) -> bool:
    """The shop closed today: a standard alert is held for its opening's summary (tomorrow 00:00 there), a
    theft reaches its off-hours tier only. The shop opens again at the end."""
    tier = list(settings.get("off_hours_tier") or [])
    if not tier:
        tier = [next(user.user_uuid for user in users if shop not in user.locations)]
    today = datetime.now(ZoneInfo(settings["timezone"])).date()
    path = f"{stack.api}/locations/{quote(shop, safe='')}"
    _call(stack.admin, "PATCH", path, 200, json={"closures": [str(today)], "off_hours_tier": tier})
    try:
        held = open_alert(stack, alert_plan(shop, "suspicious"), None)
        theft = open_alert(stack, alert_plan(shop, "theft"), None)
    finally:
        reopen = {"closures": settings["closures"], "off_hours_tier": settings["off_hours_tier"]}
        _call(stack.admin, "PATCH", path, 200, json=reopen)
    group = _call(stack.admin, "GET", f"{stack.api}/alerts/{held.alert_uuid}", 200)["group"]
    told = {
        d["user_uuid"]
        for d in _call(stack.admin, "GET", f"{stack.api}/alerts/{theft.alert_uuid}", 200)["deliveries"]
    }
    opens = datetime.combine(today + timedelta(days=1), datetime.min.time(), ZoneInfo(settings["timezone"]))
    ok = (
        held.delivery_count == 0
        and group is not None
        and group["reason"] == "closed"
        and datetime.fromisoformat(group["closes_at"]) == opens
        and bool(told)
        and told <= set(tier)
    )
    log.log(
        logging.INFO if ok else logging.ERROR,
        "calm: %s closed today: a standard alert held until %s (%s); a theft told %s, the off-hours tier %s",
        shop,
        group and group["closes_at"],
        group and group["reason"],
        sorted(told),
        tier,
    )
    return ok


def check_roster(stack: Stack, shop: str, users: Sequence[User]) -> bool:
    """A roster with one person on shift now: a theft reaches that person only. The roster is removed at
    the end: everyone attached is told again."""
    staff = sorted((u for u in users if shop in u.locations and u.contacts), key=lambda u: u.user_uuid)
    if not staff:
        log.warning("calm: roster skipped, nobody at %s has a contact point", shop)
        return True
    on_shift = staff[0].user_uuid
    now = time.time()
    start, end = (datetime.fromtimestamp(now + offset, UTC).isoformat() for offset in (-3600, 3600))
    path = f"{stack.api}/locations/{quote(shop, safe='')}/roster"
    roster = f"user,start,end\n{on_shift},{start},{end}\n".encode()
    _send(stack.admin, "PUT", path, (200,), data=roster, headers={"Content-Type": "text/csv"})
    try:
        theft = open_alert(stack, alert_plan(shop, "theft"), None)
    finally:
        _send(stack.admin, "DELETE", path, (204,))
    told = {
        d["user_uuid"]
        for d in _call(stack.admin, "GET", f"{stack.api}/alerts/{theft.alert_uuid}", 200)["deliveries"]
    }
    ok = told == {on_shift}
    log.log(
        logging.INFO if ok else logging.ERROR,
        "calm: roster with %s on shift: a theft told %s",
        on_shift,
        sorted(told),
    )
    return ok


def check_calm(stack: Stack, users: Sequence[User], timeout: float) -> bool:
    """At a shop that groups alerts: a burst told once and summed up, a silence, the shop closed today, a
    roster. Its settings are put back at the end, whatever happens."""
    found = calm_shop(stack, users)
    if found is None:
        log.warning("calm: skipped, no shop groups its alerts")
        return True
    shop, before = found
    path = f"{stack.api}/locations/{quote(shop, safe='')}"
    # No ladder: each channel's message goes at once, and nobody is called while the checks run.
    _call(stack.admin, "PATCH", path, 200, json={"group_window_seconds": CALM_WINDOW, "ladder": None})
    try:
        burst = check_burst(stack, shop, timeout)
        # From here each alert rings on its own, so that what each check sees is its own doing.
        _call(stack.admin, "PATCH", path, 200, json={"group_window_seconds": 0})
        return (
            burst
            and check_silence(stack, shop)
            and check_closed(stack, shop, before, users)
            and check_roster(stack, shop, users)
        )
    finally:
        _call(stack.admin, "PATCH", path, 200, json={name: before[name] for name in CALM_SETTINGS})


def check_batch(stack: Stack, tokens: Tokens, shops: Sequence[str], timeout: float) -> bool:
    """A vendor's backfill: one batch of two new thefts, a repeat of the first and one for a shop that does
    not exist is answered item by item, in order (201, 201, 200, 422 naming location); the new ones are
    sent."""
    plans = [alert_plan(shop, "theft") for shop in (shops[0], shops[-1])]
    now = time.time()
    items = [{**plan, "time_spotted": now} for plan in plans]
    items += [items[0], {**alert_plan("e2e: no such shop", "theft"), "time_spotted": now}]
    answer = _call(
        stack.session,
        "POST",
        f"{stack.api}{ALERTS_PATH}/batch",
        200,
        json={"alerts": items},
        headers=bearer(tokens.alerts) if tokens.alerts else None,
    )
    results = answer.get("results") or []
    statuses = [result.get("status") for result in results]
    stored = [
        PostedAlert(
            item["alert_uuid"],
            item["location"],
            "theft",
            "critical",
            result["delivery_count"],
            now,
            item["url"],
        )
        for item, result in zip(items[:2], results[:2], strict=False)
        if result.get("status") == 201
    ]
    stack.opened.extend(stored)
    deadline = time.monotonic() + timeout
    sent: dict[str, int] = {}
    while time.monotonic() < deadline:
        for alert in stored:
            detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{alert.alert_uuid}", 200)
            sent[alert.alert_uuid] = sum(d["status"] == "sent" for d in detail["deliveries"])
        if all(sent.get(a.alert_uuid, 0) >= a.delivery_count for a in stored):
            break
        time.sleep(POLL_INTERVAL)
    refused = results[3].get("errors", {}) if len(results) > 3 else {}
    ok = (
        statuses == [201, 201, 200, 422]
        and "location" in refused
        and len(stored) == 2
        and all(
            alert.delivery_count > 0 and sent.get(alert.alert_uuid, 0) >= alert.delivery_count
            for alert in stored
        )
    )
    log.log(
        logging.INFO if ok else logging.ERROR,
        "batch: 4 items answered %s (the refused one names %s); deliveries sent %s of %s",
        statuses,
        sorted(refused),
        [sent.get(alert.alert_uuid, 0) for alert in stored],
        [alert.delivery_count for alert in stored],
    )
    return ok


def check_demo(stack: Stack, tokens: Tokens, alerts_count: int, rng: random.Random, timeout: float) -> bool:
    """The default run: webhook and Teams contact points at the stub, a few levels set, then alerts checked.

    It removes the contact points it made at the end, whatever happens; those a run that was killed left
    are replaced first, or removed when this run gives them to nobody.
    """
    users = fetch_users(stack.admin, stack.api)
    webhooks = plan_webhooks(users, stack.stub)
    leftovers = [point for point in e2e_webhooks(users) if point not in webhooks]
    if leftovers:
        log.info("removing %d contact points an earlier run left", len(leftovers))
        remove_contact_points(stack.admin, stack.api, leftovers)
    try:
        put_contact_points(stack.admin, stack.api, webhooks)
        ok = _levels_and_alerts(stack, tokens, alerts_count, rng, timeout)
    finally:
        removed = remove_contact_points(stack.admin, stack.api, webhooks)
    return ok and removed


def _levels_and_alerts(
    stack: Stack, tokens: Tokens, alerts_count: int, rng: random.Random, timeout: float
) -> bool:
    """The default run once its contact points are in place: levels set, alerts posted, receipts checked."""
    users = fetch_users(stack.admin, stack.api)
    routes = fetch_routes(stack.admin, stack.api)
    shops = fetch_ringing_shops(stack.admin, stack.api)
    levels = plan_preferences(users, rng)
    before = {user.user_uuid: user.level for user in users if user.user_uuid in levels}
    apply_preferences(stack.session, stack.api, levels, tokens.users)
    users = with_levels(users, levels)
    log.info(
        "%d routing rules, %d of %d users with contact points; set levels of %d users, posting %d alerts",
        len(routes),
        sum(bool(u.contacts) for u in users),
        len(users),
        len(levels),
        alerts_count,
    )
    try:
        plans = plan_alerts(shops, alerts_count, rng)
        alerts = [open_alert(stack, plan, tokens.alerts) for plan in plans]
        return (
            check_receipts(stack, alerts, users, routes, timeout)
            and check_staff_loop(stack, alerts, users)
            and (
                not staff_links(fetch_messages(stack.session, stack.stub), [a.alert_uuid for a in alerts])
                or (
                    check_escalation(stack, tokens, users, shops, timeout)
                    and check_web_push(stack, tokens, users, shops, timeout)
                    and check_ladder(stack, users, shops, timeout)
                    and check_calm(stack, users, timeout)
                    and check_batch(stack, tokens, shops, timeout)
                )
            )
        )
    finally:
        # Each level back as this run found it: a later run, or --original, sees the stack's own data.
        apply_preferences(stack.session, stack.api, before, tokens.users)


def check_original(stack: Stack, rng: random.Random, timeout: float) -> bool:
    """The original client's run: its ten alerts, posted as it posts them, and nothing else changed (the run
    closes the alerts accepted at the end, as every run does)."""
    users = fetch_users(stack.admin, stack.api)
    routes = fetch_routes(stack.admin, stack.api)
    shops = set(fetch_locations(stack.admin, stack.api))
    leftovers = e2e_webhooks(users)
    if leftovers:
        log.warning(
            "%d webhook/Teams contact points were left by an e2e run that was killed; if its stub has moved, "
            "their deliveries fail: run e2e once without --original to remove them",
            len(leftovers),
        )
    log.info("%d routing rules; posting the original client's %d alerts", len(routes), ORIGINAL_ALERTS)
    alerts = []
    for plan in plan_original_alerts(rng):
        alerts.append(post_original_alert(stack.session, stack.api, plan, shops))
        if alerts[-1].severity is not None:
            stack.opened.append(alerts[-1])
    return check_receipts(stack, alerts, users, routes, timeout)


def claimer_of(alert: PostedAlert, users: Sequence[User], tokens: Tokens) -> str | None:
    """The token of someone of the alert's shop to claim it with (the first by uuid); None for nobody."""
    staff = sorted(
        u.user_uuid for u in users if alert.location in u.locations and u.user_uuid in tokens.users
    )
    return tokens.users[staff[0]] if staff else None


def close_alert(stack: Stack, alert: PostedAlert, token: str | None) -> None:
    """Claim the alert as a staff app does, with the member of staff's own token; with nobody to claim it,
    record it as the false alarm it is, with the admin token. Someone else on it already is fine."""
    path = f"{stack.api}/alerts/{alert.alert_uuid}"
    if token is not None:
        _send(stack.session, "POST", f"{path}/claim", (200, 409), headers=bearer(token))
    else:
        _call(stack.admin, "POST", f"{path}/outcome", 200, json={"outcome": "false_alarm", "note": "e2e"})


def left_due(detail: Mapping[str, Any]) -> list[str]:
    """What an alert still has due: nobody on it, a next escalation step, a delivery still to go out, a vendor
    event not yet sent.

    A vendor event that failed is due too: someone replays it by hand.
    """
    due = [
        f"a delivery {delivery.get('status')}"
        for delivery in detail.get("deliveries") or []
        if delivery.get("status") in PENDING_DELIVERY
    ]
    if detail.get("claimed_by") is None and detail.get("outcome") is None:
        due.append("nobody on it")
    if detail.get("next_escalation_at") is not None:
        due.append(f"an escalation step at {detail['next_escalation_at']}")
    due += [
        f"a vendor event {event.get('status')}"
        for event in detail.get("outcome_events") or []
        if event.get("status") != "sent"
    ]
    return due


def close_alerts(stack: Stack, tokens: Tokens, timeout: float) -> bool:
    """Leave nothing that pages someone later: every alert this run opened and nobody claimed is claimed by
    someone of its shop; then, within `timeout`, none has anything due (see `left_due`)."""
    if not stack.opened:
        return True
    users = fetch_users(stack.admin, stack.api)
    closed = 0
    for alert in stack.opened:
        detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{alert.alert_uuid}", 200)
        if detail.get("claimed_by") is None and detail.get("outcome") is None:
            close_alert(stack, alert, claimer_of(alert, users, tokens))
            closed += 1
    deadline = time.monotonic() + timeout
    waiting = stack.opened
    while True:
        due = {}
        for alert in waiting:
            detail = _call(stack.admin, "GET", f"{stack.api}/alerts/{alert.alert_uuid}", 200)
            if left_due(detail):
                due[alert.alert_uuid] = left_due(detail)
        waiting = [alert for alert in waiting if alert.alert_uuid in due]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL)
    if due:
        shown = list(due.items())[:SHOWN]
        log.error("closing: %d of %d alerts still have something due: %s", len(due), len(stack.opened), shown)
        return False
    log.info("closing: %d alerts opened, %d claimed now, nothing due", len(stack.opened), closed)
    return True


def run(args: argparse.Namespace) -> int:
    """One end-to-end pass against a running stack, as the command line asks; the exit code."""
    tokens = load_tokens(args.tokens)
    stack = connect(args.api.rstrip("/"), args.stub.rstrip("/"), tokens.admin, args.twilio_auth_token)
    rng = random.Random(args.seed)
    try:
        if args.original:
            ok = check_original(stack, rng, args.timeout)
        else:
            ok = check_demo(stack, tokens, args.alerts, rng, args.timeout)
    finally:
        # However the run ends, what it opened is closed: an alert left unclaimed would page people later.
        try:
            closed = close_alerts(stack, tokens, args.timeout)
        except (StackUnreachable, CheckFailed) as exc:
            log.error("closing: %s", exc)
            closed = False
    return 0 if ok and closed else 1


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the check and return its exit code."""
    parser = argparse.ArgumentParser(
        description="End-to-end check of a running nootification stack. By default it gives one user of "
        "each shop webhook and Teams contact points at the stub, sets a few users' levels, posts alerts to "
        "the API, then waits until the stub providers have received exactly the expected notifications on "
        "every channel (push, sms, email, slack, telegram, webhook, teams), once each; it removes the "
        "contact points it made at the end, even when the run fails. Who is expected on which channel "
        "follows from GET /users (shops, levels, contact points) and GET /routes; the stub's messages are "
        "matched to users by target_user_uuid (push) or by contact point address, and to alerts by "
        "alert_uuid or by the alert's video URL in the text or payload. Then, through the action links of "
        "the alert whose push messages reached the most people, it opens the staff page, claims the alert "
        "as the first, claims it again as another (refused), records an outcome as that other person, "
        "checks the alert's state and that its other Slack and Telegram messages were edited to say who is "
        "on it, and waits for the outcome event at the stub's generic webhook "
        f"{VENDOR_HOOK!r} (VENDOR_OUTCOME_URL in the quick start and compose). Last, it gives one shop two "
        "escalation tiers (two people of other shops) with a 1 s delay, posts a critical alert there, waits "
        "for tier 2's push, claims through its link, checks that the steps stopped at tier 2, and puts the "
        "shop's settings back. Then it posts a theft to a shop whose fallback ladder ends with a call and "
        f"waits until each step went out, each later one within {LADDER_LATENESS:g} s of its due time, "
        "presses 1 in the call (the stub posts Twilio's signed Gather result) and checks the caller claimed "
        "it; then posts another theft and claims it by an SMS reply 1 sent through the stub. Then, at a shop "
        f"that groups its alerts (a group_window_seconds other than 0), calm: {BURST_ALERTS} thefts within "
        f"{BURST_ALERTS * BURST_SPACING:g} s form one group whose first alert alone rings and, once its "
        f"{CALM_WINDOW} s window ends, nobody has more than 2 messages per channel about them (the "
        "summary); a silence of one label keeps that label's alert from everyone while a theft still rings; "
        "the shop closed today holds a standard alert for its opening and takes a theft to its off-hours "
        "tier; a roster with one person on shift has a theft reach that person only. The shop's settings "
        "are put back. The other checks post only to shops where every alert rings (group_window_seconds 0). "
        "Then a batch (POST /webhooks/alerts/batch) of two new thefts, a repeat and an alert for an unknown "
        "shop is answered item by item, in order (201, 201, 200, 422), and the new ones are sent. "
        "However the run ends, it then claims every alert it posted that nobody is on "
        "yet, as someone of the alert's shop with their own token (an admin records a false alarm where the "
        "shop has nobody), and checks with GET /alerts/<uuid> that nothing is left due: every alert claimed, "
        "no escalation step and no delivery to come, every outcome event sent to the vendor; else it fails.",
        epilog="Exit status: 0 all good, 1 a mismatch or a timeout, 2 the API or the stub cannot be reached.",
    )
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="API base URL (default: %(default)s)")
    parser.add_argument(
        "--stub", default="http://127.0.0.1:5000", help="stub providers base URL (default: %(default)s)"
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "-n", "--alerts", type=_positive_int, default=20, help="alerts to post (default: %(default)s)"
    )
    what.add_argument(
        "--original",
        action="store_true",
        help="post exactly what the original service's end-to-end client posts, and change nothing else: "
        f"{ORIGINAL_ALERTS} alerts without token or signature, random labels, times in March 2025, over "
        f"the {len(ORIGINAL_SHOPS)} names of its shop list, each at least once. Its list lacks a comma, "
        "so one name is CarrefourLeclerc, which no shop has: those alerts must be refused with a 422 naming "
        "location, the others accepted with 201; then the receipts are checked as usual, from GET /users "
        "and GET /routes read with the admin token. No contact point or level is changed; the alerts "
        "accepted are claimed at the end, as in every run",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the receipts to arrive, and for the alerts closed at the end to have "
        "nothing due (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed for choosing users, labels, shops and (--original) times, to replay a run (alert uuids "
        "are always new)",
    )
    parser.add_argument(
        "--twilio-auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN", QUICK_START_TWILIO_TOKEN),
        help="the stack's TWILIO_AUTH_TOKEN, with which the stub signs a key pressed during a call and an "
        "SMS reply as Twilio would (default: $TWILIO_AUTH_TOKEN, else the quick start's dummy)",
    )
    parser.add_argument(
        "--tokens",
        type=Path,
        default=Path("instance/demo-tokens.json"),
        help="bearer tokens written by `flask tokens demo` (admin, alerts:write, one per user; "
        "default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return run(args)
    except StackUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
