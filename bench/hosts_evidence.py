"""The several-hosts bench's evidence: what the stub received from which host, held against what was owed, and
which deliveries the cut host had in flight and who finished them (from the ledger)."""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from nootification.models import DeliveryAttempt

Pair = tuple[str, str]
"""(alert_uuid, user_uuid): one push owed or received."""


@dataclass
class Tally:
    """How the owed pushes fared: lost, stored twice at the stub, repeats the stub absorbed under the same
    key, and how many each host sent (by the address of each receipt)."""

    expected: int = 0
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    absorbed: int = 0
    by_host: Counter = field(default_factory=Counter)


def tally(expected: set[Pair], messages: Iterable[Mapping], host_of: Mapping[str, str]) -> Tally:
    """Hold the stub's push messages (listed with ?senders=1) against the pushes owed; `host_of` names the
    host of each sender address ("other" for any address not in it)."""
    stored: Counter[Pair] = Counter()
    result = Tally(expected=len(expected))
    for message in messages:
        pair = (message["alert_uuid"], message["target_user_uuid"])
        stored[pair] += 1
        result.absorbed += message["receipts"] - 1
        for sender in message.get("senders", ()):
            result.by_host[host_of.get(sender["address"], "other")] += 1
    result.received = len(expected & set(stored))
    result.lost = len(expected - set(stored))
    result.duplicates = sum(count - 1 for count in stored.values() if count > 1)
    return result


@dataclass(frozen=True)
class Attempt:
    """One attempt of a delivery, as the ledger holds it."""

    delivery_id: str
    number: int
    outcome: str
    started_at: datetime


@dataclass(frozen=True)
class Takeover:
    """The deliveries attempted before the cut and again after it (those the cut host held: the other host's
    own finish within a provider latency), and the receipts of them at the provider after the cut."""

    in_flight: int
    finished: int  # of them, with a receipt at the provider after the cut
    sent_by: dict[str, int]  # receipts after the cut, by host
    first_s: float | None  # after the cut: the first such receipt
    last_s: float | None  # after the cut: the last one, when every held delivery was done


def takeover(
    attempts: Sequence[Attempt],
    cut_at: float,
    senders: Mapping[str, list[Mapping]],
    host_of: Mapping[str, str],
) -> Takeover:
    """From the ledger's attempts and the stub's receipts by delivery id (each receipt's address and time):
    which deliveries the cut host held when it was cut, and when and by whom they were sent afterwards."""
    before, after = set(), set()
    for attempt in attempts:
        (before if attempt.started_at.timestamp() <= cut_at else after).add(attempt.delivery_id)
    held = before & after
    sent_by: Counter[str] = Counter()
    times, finished = [], 0
    for delivery_id in held:
        later = [receipt for receipt in senders.get(delivery_id, ()) if receipt["at"] > cut_at]
        finished += bool(later)
        for receipt in later:
            times.append(receipt["at"] - cut_at)
            sent_by[host_of.get(receipt["address"], "other")] += 1
    return Takeover(
        in_flight=len(held),
        finished=finished,
        sent_by=dict(sent_by),
        first_s=round(min(times), 1) if times else None,
        last_s=round(max(times), 1) if times else None,
    )


def attempts_of_retried(connection: sa.Connection) -> list[Attempt]:
    """Every attempt of the deliveries attempted more than once."""
    attempts = DeliveryAttempt.__table__
    retried = sa.select(attempts.c.delivery_id).where(attempts.c.number > 1)
    query = sa.select(
        attempts.c.delivery_id, attempts.c.number, attempts.c.outcome, attempts.c.started_at
    ).where(attempts.c.delivery_id.in_(retried))
    return [Attempt(*row) for row in connection.execute(query)]


def longest_gap(times: Iterable[float], since: float) -> float | None:
    """The longest wait between two receipts from `since` on (`since` itself counts as the first): how long
    nobody sent anything, e.g. while a circuit stood open; None without a receipt after `since`."""
    later = sorted(at for at in times if at >= since)
    if not later:
        return None
    return round(max(b - a for a, b in zip([since, *later], later, strict=False)), 1)


def repeats(messages: Iterable[Mapping], host_of: Mapping[str, str], cut_at: float) -> list[list[str]]:
    """Each message received more than once: its receipts as "host@seconds after the cut", in order."""
    return [
        [f"{host_of.get(r['address'], 'other')}@{r['at'] - cut_at:+.1f}" for r in message["senders"]]
        for message in messages
        if message["receipts"] > 1
    ]


def with_application_name(url: str, name: str) -> str:
    """A database URL whose connections show as `name` in pg_stat_activity."""
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def placement(workers: int, hosts: Sequence[str]) -> list[str]:
    """The host of each worker process: round-robin, so 1, 2 and 4 workers spread evenly over two hosts."""
    return [hosts[index % len(hosts)] for index in range(workers)]


def connections_by_application(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """pg_stat_activity's (application_name, count) rows as a mapping, blank names as "(none)"."""
    counted: dict[str, int] = defaultdict(int)
    for name, count in rows:
        counted[name or "(none)"] += count
    return dict(counted)


def peak(samples: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The most each key reached over the samples."""
    most: dict[str, int] = {}
    for sample in samples:
        for key, value in sample.items():
            most[key] = max(most.get(key, 0), value)
    return most
