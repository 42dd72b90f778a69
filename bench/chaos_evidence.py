"""The chaos run's evidence: what the stub received and the database sent, held against what was expected.

Each message the stub recorded is attributed to its (alert, user, channel); each channel's tally says how many
arrived, were lost, came twice, and whether the repeats follow the channel's policy for a send whose outcome
is unknown. The tables print a line per fault (the deliveries of the alerts posted until the next fault) and a
line per channel.
"""

import bisect
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from xml.etree import ElementTree

import sqlalchemy as sa

from nootification.models import Alert, AttemptOutcomeKind, Delivery, DeliveryAttempt, DeliveryStatus

PUSH = "push"
VOICE = "voice"
# A call's TwiML posts its key to .../webhooks/twilio/voice?delivery=<the delivery's id>.
CALL_DELIVERY = re.compile(r"[?&]delivery=([0-9a-f-]{36})")
# Each alert's video URL carries its uuid, so a text message names its alert.
VIDEO_URL = "https://media.example.com/{alert_uuid}.mp4"

# The policy for a send whose outcome is unknown (docs/delivery.md). These channels send it again with the
# same key (Idempotency-Key, webhook-id, Message-ID), which the stub absorbs: two records of one delivery are
# two keys.
KEYED_CHANNELS = frozenset({"push", "webhook", "email"})


# The others carry no key: the recipient may get a second message, whose text begins with this mark.
REPEAT_MARK = "Repeat: "


ALERT_IN_TEXT = re.compile(r"media\.example\.com/([0-9a-f-]{36})\.mp4")


Triple = tuple[str, str, str]
"""(alert_uuid, user_uuid, channel): one expected or received notification."""


@dataclass(frozen=True)
class Fault:
    """A fault as injected: what was done and when (time.time())."""

    description: str
    started: float


class Sent(NamedTuple):
    """A delivery the database holds as sent: its alert, its channel, the alert's receipt and the sending."""

    alert_uuid: str
    channel: str
    received_at: float  # time.time()
    sent_at: float


@dataclass(frozen=True)
class Receipt:
    """A message the stub recorded, attributed to its (alert, user, channel)."""

    triple: Triple
    text: str
    receipts: int  # how many times it came in under its key: more than one was absorbed as a repeat


@dataclass
class Tally:
    """How one channel's expected notifications fared."""

    expected: int = 0
    received: int = 0
    lost: int = 0
    extra: int = 0
    repeats: int = 0  # a second (third...) message for a notification, stored apart
    raw_duplicates: int = 0  # a repeat under a key the provider already had, absorbed there
    breaches: int = 0  # notifications whose repeats break the channel's policy

    @property
    def duplicates(self) -> int:
        """Every repeat, absorbed by the provider or stored apart."""
        return self.repeats + self.raw_duplicates


def sent_deliveries(connection: sa.Connection) -> list[Sent]:
    """Every delivery the database holds as sent."""
    deliveries, alerts = Delivery.__table__, Alert.__table__
    query = (
        sa.select(alerts.c.alert_uuid, deliveries.c.channel, alerts.c.received_at, deliveries.c.sent_at)
        .join(alerts, alerts.c.id == deliveries.c.alert_id)
        .where(deliveries.c.status == DeliveryStatus.SENT)
    )
    return [
        Sent(alert_uuid, channel, received.timestamp(), sent.timestamp())
        for alert_uuid, channel, received, sent in connection.execute(query)
    ]


def sent_twice(connection: sa.Connection) -> int:
    """How many deliveries the ledger shows sent by more than one attempt: a repeat it did not know of."""
    attempts = DeliveryAttempt.__table__
    repeated = (
        sa.select(attempts.c.delivery_id)
        .where(attempts.c.outcome == AttemptOutcomeKind.SENT)
        .group_by(attempts.c.delivery_id)
        .having(sa.func.count() > 1)
        .subquery()
    )
    return connection.execute(sa.select(sa.func.count()).select_from(repeated)).scalar_one()


def steps_started_after(connection: sa.Connection, closed: Mapping[str, float]) -> int:
    """How many attempts of later ladder steps started after their alert's close was acknowledged (`closed`:
    alert_uuid -> time.time()): none may."""
    deliveries, alerts, attempts = Delivery.__table__, Alert.__table__, DeliveryAttempt.__table__
    query = (
        sa.select(alerts.c.alert_uuid, attempts.c.started_at)
        .join(deliveries, deliveries.c.alert_id == alerts.c.id)
        .join(attempts, attempts.c.delivery_id == deliveries.c.id)
        .where(deliveries.c.ladder_step > 0)
    )
    return sum(
        1
        for alert_uuid, started_at in connection.execute(query)
        if alert_uuid in closed and started_at.timestamp() > closed[alert_uuid]
    )


def message_alert(message: Mapping) -> str | None:
    """The alert a recorded message is about: its alert_uuid, else the one its video link names."""
    if message.get("alert_uuid"):
        return message["alert_uuid"]
    found = ALERT_IN_TEXT.search((message.get("text") or "") + json.dumps(message.get("payload")))
    return found.group(1) if found else None


def attribute(
    message: Mapping, holders: Mapping[tuple[str, str], str], calls: Mapping[str, str] | None = None
) -> Receipt:
    """A recorded message as a Receipt: a push message names its user, any other is its address's holder's.

    A call names its alert nowhere: its TwiML's key goes to `...?delivery=<id>`, whose alert `calls` maps
    (delivery id -> alert uuid); its text is what it says first. An alert or an address nobody holds is kept
    as "?" or "?<address>", so it counts as extra.
    """
    channel = message.get("channel", PUSH)
    text = message.get("text") or ""
    if channel == PUSH:
        user_uuid = message["target_user_uuid"]
    else:
        user_uuid = holders.get((channel, message["address"]), f"?{message['address']}")
    if channel == VOICE:
        delivery = CALL_DELIVERY.search(text)
        alert_uuid = (calls or {}).get(delivery.group(1), "?") if delivery else "?"
        text = spoken(text)
    else:
        alert_uuid = message_alert(message) or "?"
    return Receipt((alert_uuid, user_uuid, channel), text, message.get("receipts", 1))


def spoken(twiml: str) -> str:
    """What a call's TwiML says first."""
    said = ElementTree.fromstring(twiml).find(".//Say")
    return (said.text or "") if said is not None else ""


def call_alerts(connection: sa.Connection) -> dict[str, str]:
    """The alert of each call delivery, by the delivery's id."""
    deliveries, alerts = Delivery.__table__, Alert.__table__
    query = (
        sa.select(deliveries.c.id, alerts.c.alert_uuid)
        .join(alerts, alerts.c.id == deliveries.c.alert_id)
        .where(deliveries.c.channel == VOICE)
    )
    return {delivery_id: alert_uuid for delivery_id, alert_uuid in connection.execute(query)}


def breaks_policy(channel: str, texts: Sequence[str]) -> bool:
    """Whether the messages stored for one notification break its channel's policy on repeats.

    A keyed channel's provider absorbs a repeat, so a second record means a second key; on the others every
    message but one must begin with the repeat mark.
    """
    if channel in KEYED_CHANNELS:
        return len(texts) > 1
    return sum(not text.startswith(REPEAT_MARK) for text in texts) > 1


def classify(expected: set[Triple], receipts: Iterable[Receipt]) -> dict[str, Tally]:
    """Per channel, the expected notifications received and lost, the extra ones, and their repeats."""
    texts: dict[Triple, list[str]] = defaultdict(list)
    absorbed: Counter[Triple] = Counter()
    for receipt in receipts:
        texts[receipt.triple].append(receipt.text)
        absorbed[receipt.triple] += receipt.receipts - 1
    tallies: dict[str, Tally] = defaultdict(Tally)
    for triple in expected:
        tally = tallies[triple[2]]
        tally.expected += 1
        if triple in texts:
            tally.received += 1
        else:
            tally.lost += 1
    for triple, found in texts.items():
        tally = tallies[triple[2]]
        tally.extra += triple not in expected
        tally.repeats += len(found) - 1
        tally.raw_duplicates += absorbed[triple]
        tally.breaches += breaks_policy(triple[2], found)
    return dict(tallies)


def total(tallies: Iterable[Tally]) -> Tally:
    """The sum of several tallies."""
    summed = Tally()
    for tally in tallies:
        for name, value in vars(tally).items():
            setattr(summed, name, getattr(summed, name) + value)
    return summed


def fault_windows(starts: Sequence[float], posted: Mapping[str, float]) -> list[set[str]]:
    """The alerts posted in each fault's window, from its start to the next one's; `starts` ascend.

    The last window runs to the end of posting; an alert posted before the first start is in none.
    """
    windows: list[set[str]] = [set() for _ in starts]
    for alert_uuid, at in posted.items():
        index = bisect.bisect_right(starts, at) - 1
        if index >= 0:
            windows[index].add(alert_uuid)
    return windows


def drain_seconds(started: float, alerts: set[str], sent: Iterable[Sent]) -> float | None:
    """Seconds from `started` until the last delivery of these alerts was sent; None if none was."""
    last = max((s.sent_at for s in sent if s.alert_uuid in alerts), default=None)
    return None if last is None else last - started


def summary(seconds: Sequence[float]) -> str:
    """p50 / p95 / max of some durations, in seconds."""
    if not seconds:
        return "-"
    ordered = sorted(seconds)
    p50, p95 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{p50:.2f} / {p95:.2f} / {ordered[-1]:.2f}"


def per_channel(tallies: Mapping[str, Tally]) -> str:
    """The duplicates of each channel that has any, e.g. "push 2, sms 1"; "-" when there is none."""
    found = [
        f"{channel} {tally.duplicates}" for channel, tally in sorted(tallies.items()) if tally.duplicates
    ]
    return ", ".join(found) or "-"


def clock(at: float) -> str:
    """A time.time() as local HH:MM:SS.s."""
    return datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:10]


def table(rows: Sequence[Sequence[object]]) -> list[str]:
    """Rows as lines, columns two spaces apart: the first and the last left-aligned, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(*rows, strict=True)]
    last = len(widths) - 1
    return [
        "  ".join(
            f"{cell!s:<{width}}" if index in (0, last) else f"{cell!s:>{width}}"
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def fault_table(
    done: Sequence[Fault],
    expected: set[Triple],
    posted: Mapping[str, float],
    receipts: Sequence[Receipt],
    sent: Sequence[Sent],
) -> list[str]:
    """A line per fault: the notifications of the alerts posted in its window, and how they fared."""
    rows: list[list[object]] = [["time", "expected", "lost", "breaches", "drain (s)", "duplicates", "fault"]]
    windows = fault_windows([fault.started for fault in done], posted)
    for fault, alerts in zip(done, windows, strict=True):
        window_expected = {triple for triple in expected if triple[0] in alerts}
        tallies = classify(window_expected, [r for r in receipts if r.triple[0] in alerts])
        summed = total(tallies.values())
        drain = drain_seconds(fault.started, alerts, sent)
        rows.append(
            [
                clock(fault.started),
                summed.expected,
                summed.lost,
                summed.breaches,
                "-" if drain is None else f"{drain:.1f}",
                per_channel(tallies),
                fault.description,
            ]
        )
    return table(rows)


def channel_table(tallies: Mapping[str, Tally], sent: Sequence[Sent]) -> list[str]:
    """A line per channel: expected, received, lost, extra, repeats, breaches and receipt → sent."""
    latencies: dict[str, list[float]] = defaultdict(list)
    for s in sent:
        latencies[s.channel].append(s.sent_at - s.received_at)
    header = ["channel", "expected", "received", "lost", "extra", "repeats", "absorbed", "breaches"]
    rows: list[list[object]] = [[*header, "receipt → sent p50 / p95 / max (s)"]]
    for channel, tally in sorted(tallies.items(), key=lambda item: (item[0] != PUSH, item[0])):
        counts = [tally.expected, tally.received, tally.lost, tally.extra, tally.repeats]
        rows.append([channel, *counts, tally.raw_duplicates, tally.breaches, summary(latencies[channel])])
    return table(rows)
