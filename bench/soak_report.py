"""The soak's figures: its windows, what each saw (alerts, deliveries, losses, repeats, receipts, memory,
descriptors, Redis, the database), the summary a script reads, and the plot."""

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.chaos_evidence import KEYED_CHANNELS, Receipt, Triple, classify, total
from bench.report import percentile, plt

# The windows are 5 minutes of an hour, a fault in all but the first; a shorter run keeps at least
# this many windows, each shorter (the 5-minute run: 1-minute windows).
MIN_WINDOWS = 5
# After a fault ends, the backlog it left takes this long to drain before the receipts count as quiet again.
RECOVERY_S = 30.0
# Memory and descriptors are flat when the last window is within this share of the first after the warm-up.
FLAT = 0.10
P99_QUIET_TARGET_S = 1.0


def window_seconds(minutes: float, window_minutes: float) -> float:
    """How long each window lasts: `window_minutes`, or less so a short run still has MIN_WINDOWS."""
    return 60 * min(window_minutes, minutes / MIN_WINDOWS)


def window_count(minutes: float, window_s: float) -> int:
    """How many whole windows a run of `minutes` holds."""
    return max(1, round(minutes * 60 / window_s))


@dataclass(frozen=True)
class FaultSpan:
    """A fault as injected: its window, what it was, when it started and ended (time.time())."""

    window: int
    description: str
    started: float
    ended: float


@dataclass(frozen=True)
class Sample:
    """The stack at one instant: RSS (MB) and open descriptors of the workers and of the API (each summed over
    its processes), Redis's used_memory (MB), the database's size (MB), the delivery queue's length; None
    where it could not be read (the process was being restarted, Redis was stopped)."""

    at: float
    worker_rss_mb: float | None
    api_rss_mb: float | None
    worker_fds: int | None
    api_fds: int | None
    redis_mb: float | None
    database_mb: float | None
    backlog: int | None


@dataclass(frozen=True)
class Evidence:
    """What the run posted and what the stub received: each accepted alert's slot (time.time()), the
    notifications owed, the messages as attributed, when each arrived (alert_uuid, time.time()), and how long
    each alert's POST took from its slot to its acceptance, retries included."""

    posted: Mapping[str, float]
    expected: set[Triple]
    receipts: Sequence[Receipt]
    arrivals: Sequence[tuple[str, float]]
    post_seconds: Mapping[str, float]


class CpuTally:
    """CPU seconds each component used since the first reading, across its restarts: a reading below the last
    is a new process, counted from zero."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.used: dict[str, float] = defaultdict(float)

    def add(self, reading: Mapping[str, float]) -> None:
        """Count a reading of cumulative CPU seconds by component (StackProcesses.cpu_seconds)."""
        for name, seconds in reading.items():
            before = self.last.get(name, seconds)
            self.used[name] += seconds - before if seconds >= before else seconds
            self.last[name] = seconds


def cpu_cores(used: Mapping[str, float], wall: float) -> dict[str, float]:
    """Cores each component kept busy on average over `wall` s: the workers, the API, the stub, Redis, the
    scheduler, this process, and the rest of the machine (other people's work)."""
    ours = {"workers": sum(value for key, value in used.items() if key.startswith("worker-"))}
    ours |= {key: used.get(key, 0.0) for key in ("api", "stub", "redis", "scheduler", "bench")}
    ours["others"] = max(0.0, used.get("machine", 0.0) - sum(ours.values()))
    return {key: round(value / wall, 2) for key, value in ours.items()}


def window_index(at: float, start: float, window_s: float, count: int) -> int | None:
    """The window an instant falls in; None before the first or after the last."""
    index = int((at - start) // window_s)
    return index if 0 <= index < count else None


def quiet(at: float, faults: Sequence[FaultSpan]) -> bool:
    """Whether an alert posted at `at` is clear of every fault: not from its start until RECOVERY_S after its
    end (a fault's backlog may spill into the next window)."""
    return not any(fault.started <= at < fault.ended + RECOVERY_S for fault in faults)


def _seconds(values: Sequence[float], q: float) -> float | None:
    return round(percentile(values, q), 3) if values else None


def _median(values: Iterable[float | None], digits: int = 1) -> float | None:
    found = [value for value in values if value is not None]
    return round(statistics.median(found), digits) if found else None


def _last(values: Iterable[float | None]) -> float | None:
    found = [value for value in values if value is not None]
    return round(found[-1], 1) if found else None


def window_rows(
    start: float,
    window_s: float,
    count: int,
    faults: Sequence[FaultSpan],
    evidence: Evidence,
    samples: Sequence[Sample],
) -> list[dict]:
    """A row per window: the alerts posted in it, how their notifications fared, the stack meanwhile."""
    by_window = {fault.window: fault for fault in faults}
    alert_window = {
        alert: index
        for alert, at in evidence.posted.items()
        if (index := window_index(at, start, window_s, count)) is not None
    }
    expected: dict[int, set[Triple]] = defaultdict(set)
    for triple in evidence.expected:
        if triple[0] in alert_window:
            expected[alert_window[triple[0]]].add(triple)
    receipts: dict[int, list[Receipt]] = defaultdict(list)
    for receipt in evidence.receipts:
        if receipt.triple[0] in alert_window:
            receipts[alert_window[receipt.triple[0]]].append(receipt)
    posts: dict[int, list[float]] = defaultdict(list)
    for alert, seconds in evidence.post_seconds.items():
        if alert in alert_window:
            posts[alert_window[alert]].append(seconds)
    latencies: dict[int, list[float]] = defaultdict(list)
    quiet_latencies: dict[int, list[float]] = defaultdict(list)
    arrived: dict[int, int] = defaultdict(int)
    for alert, received_at in evidence.arrivals:
        if (index := window_index(received_at, start, window_s, count)) is not None:
            arrived[index] += 1
        if alert not in alert_window:
            continue
        index, posted = alert_window[alert], evidence.posted[alert]
        latencies[index].append(received_at - posted)
        if quiet(posted, faults):
            quiet_latencies[index].append(received_at - posted)
    rows = []
    for index in range(count):
        began = start + index * window_s
        fault = by_window.get(index)
        tallies = classify(expected[index], receipts[index])
        summed = total(tallies.values())
        keyed = total(tally for channel, tally in tallies.items() if channel in KEYED_CHANNELS)
        seen = [sample for sample in samples if began <= sample.at < began + window_s]
        rows.append(
            {
                "window": index,
                "start_s": round(index * window_s, 1),
                "fault": fault.description if fault else None,
                "fault_s": round(fault.ended - fault.started, 1) if fault else None,
                "alerts": sum(1 for window in alert_window.values() if window == index),
                "expected": summed.expected,
                "deliveries": summed.received,
                "lost": summed.lost,
                "duplicates": keyed.breaches,
                "absorbed": summed.raw_duplicates,
                "deliveries_per_s": round(arrived[index] / window_s, 1),
                "post_p99_s": _seconds(posts[index], 99),
                "receipt_p50_s": _seconds(latencies[index], 50),
                "receipt_p99_s": _seconds(latencies[index], 99),
                "quiet_p99_s": _seconds(quiet_latencies[index], 99),
                "quiet_receipts": len(quiet_latencies[index]),
                "worker_rss_mb": _median(sample.worker_rss_mb for sample in seen),
                "api_rss_mb": _median(sample.api_rss_mb for sample in seen),
                "worker_fds": _median((sample.worker_fds for sample in seen), 0),
                "api_fds": _median((sample.api_fds for sample in seen), 0),
                "redis_mb": _last(sample.redis_mb for sample in seen),
                "database_mb": _last(sample.database_mb for sample in seen),
                "backlog_max": max((s.backlog for s in seen if s.backlog is not None), default=None),
            }
        )
    return rows


def growth_ratio(first: float | None, last: float | None) -> float | None:
    """The last window's figure over the first's after the warm-up; None when either is missing."""
    if not first or last is None:
        return None
    return round(last / first, 3)


def reference_window(count: int) -> int:
    """The first window after the warm-up (the first window, whose processes are still filling up)."""
    return 1 if count > 1 else 0


def worst_growth(rows: Sequence[dict], keys: Sequence[str]) -> float | None:
    """The largest growth ratio among `keys`, from the reference window to the last."""
    first, last = rows[reference_window(len(rows))], rows[-1]
    ratios = [ratio for key in keys if (ratio := growth_ratio(first[key], last[key])) is not None]
    return max(ratios, default=None)


def summary(rows: Sequence[dict]) -> dict:
    """The figures a script reads: losses, repeats, the worst quiet p99, memory's and descriptors' growth."""
    quiet_p99 = [row["quiet_p99_s"] for row in rows if row["quiet_p99_s"] is not None]
    return {
        "lost": sum(row["lost"] for row in rows),
        "duplicates": sum(row["duplicates"] for row in rows),
        "absorbed": sum(row["absorbed"] for row in rows),
        "p99_quiet_s": max(quiet_p99, default=None),
        "rss_growth_ratio": worst_growth(rows, ("worker_rss_mb", "api_rss_mb")),
        "fd_growth_ratio": worst_growth(rows, ("worker_fds", "api_fds")),
        "alerts": sum(row["alerts"] for row in rows),
        "deliveries": sum(row["deliveries"] for row in rows),
        "windows": len(rows),
        "faults": sum(1 for row in rows if row["fault"]),
    }


def failed(summary: Mapping) -> bool:
    """Whether the run lost a notification or sent one twice at a provider that takes a key."""
    return bool(summary["lost"] or summary["duplicates"])


def verdicts(summary: Mapping) -> dict[str, str]:
    """Each target's PASS or MISS (n/a when it was not measured)."""

    def judge(value: float | None, ok: bool) -> str:
        return "n/a" if value is None else "PASS" if ok else "MISS"

    quiet, rss, fds = summary["p99_quiet_s"], summary["rss_growth_ratio"], summary["fd_growth_ratio"]
    return {
        "lost = 0": judge(summary["lost"], summary["lost"] == 0),
        "duplicates = 0": judge(summary["duplicates"], summary["duplicates"] == 0),
        f"p99 quiet ≤ {P99_QUIET_TARGET_S:g} s": judge(
            quiet, quiet is not None and quiet <= P99_QUIET_TARGET_S
        ),
        f"RSS growth ≤ {1 + FLAT:g}×": judge(rss, rss is not None and rss <= 1 + FLAT),
        f"descriptors growth ≤ {1 + FLAT:g}×": judge(fds, fds is not None and fds <= 1 + FLAT),
    }


# Each column of the printed table: its title and the row's key.
COLUMNS = (
    ("alerts", "alerts"),
    ("deliveries", "deliveries"),
    ("lost", "lost"),
    ("dup", "duplicates"),
    ("/s", "deliveries_per_s"),
    ("POST p99 (s)", "post_p99_s"),
    ("p50 (s)", "receipt_p50_s"),
    ("p99 (s)", "receipt_p99_s"),
    ("quiet p99 (s)", "quiet_p99_s"),
    ("worker MB", "worker_rss_mb"),
    ("API MB", "api_rss_mb"),
    ("worker fds", "worker_fds"),
    ("API fds", "api_fds"),
    ("Redis MB", "redis_mb"),
    ("DB MB", "database_mb"),
    ("backlog", "backlog_max"),
)


def table(rows: Sequence[dict]) -> list[str]:
    """The windows as text lines: the minute each starts at, its figures right-aligned, its fault last."""
    lines = [["min", *(title for title, _ in COLUMNS)]]
    lines += [[_cell(row["start_s"] / 60), *(_cell(row[key]) for _, key in COLUMNS)] for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]
    faults = ["fault", *(row["fault"] or "(none)" for row in rows)]
    return [
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) + f"  {fault}"
        for line, fault in zip(lines, faults, strict=True)
    ]


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def plot(rows: Sequence[dict], samples: Sequence[Sample], start: float, path: Path) -> None:
    """Per-window receipt p50/p99 (quiet p99 beside it) with the faults marked, and RSS, descriptors and Redis
    memory over the run, one panel each."""
    figure, (latency, memory, descriptors) = plt.subplots(3, 1, figsize=(10, 11), sharex=True)
    window_s = rows[1]["start_s"] - rows[0]["start_s"] if len(rows) > 1 else 60.0
    middles = [(row["start_s"] + window_s / 2) / 60 for row in rows]
    for key, label, style in (
        ("receipt_p50_s", "receipt p50", "o-"),
        ("receipt_p99_s", "receipt p99", "s-"),
        ("quiet_p99_s", "receipt p99, quiet part", "^--"),
    ):
        latency.plot(middles, [row[key] for row in rows], style, label=label)
    latency.axhline(P99_QUIET_TARGET_S, color="grey", linestyle=":", label="quiet p99 target")
    for row in rows:
        if row["fault"]:
            latency.axvline(row["start_s"] / 60, color="tab:red", alpha=0.3)
            place = (row["start_s"] / 60, 0.02)
            latency.annotate(
                row["fault"], place, xycoords=("data", "axes fraction"), rotation=90, fontsize=7, va="bottom"
            )
    latency.set_yscale("log")
    latency.set_ylabel("alert → receipt (s)")
    latency.legend(fontsize=8)
    minutes = [(sample.at - start) / 60 for sample in samples]
    memory.plot(minutes, [s.worker_rss_mb for s in samples], label="workers RSS (MB)")
    memory.plot(minutes, [s.api_rss_mb for s in samples], label="API RSS (MB)")
    memory.plot(minutes, [s.redis_mb for s in samples], label="Redis used_memory (MB)")
    memory.plot(minutes, [s.database_mb for s in samples], label="database (MB)")
    memory.set_ylabel("MB")
    memory.legend(fontsize=8)
    descriptors.plot(minutes, [s.worker_fds for s in samples], label="workers")
    descriptors.plot(minutes, [s.api_fds for s in samples], label="API")
    descriptors.set_ylabel("open file descriptors")
    descriptors.set_xlabel("minutes since posting started")
    descriptors.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
