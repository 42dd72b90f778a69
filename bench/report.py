"""The bench's figures: percentiles and rates, the targets, the table, the JSON file and the plot."""

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)

# Each plotted scenario's label, its colour in the receipts/s panels and its line in the CDF panel.
SERIES = {
    "steady": ("steady state", "tab:blue", "-"),
    "fanout": ("fan-out", "tab:orange", "--"),
    "limit": ("direct to the stub (the limit)", "tab:green", ":"),
}

Row = tuple[str, str, str, str | None]
"""(scenario, figure, measured, id of the target it is judged against or None)."""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, interpolating linearly between the two nearest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_ms(seconds: Sequence[float], prefix: str = "") -> dict[str, float | None]:
    """p50, p95, p99 and max of latencies given in seconds, in milliseconds; None when there are none."""
    names = {"p50": 50, "p95": 95, "p99": 99, "max": 100}
    return {
        f"{prefix}{name}_ms": round(percentile(seconds, q) * 1000, 1) if seconds else None
        for name, q in names.items()
    }


def receipt_rate(times: Sequence[float]) -> float | None:
    """Receipts per second between the first and the last receipt; None with fewer than two."""
    if len(times) < 2 or max(times) == min(times):
        return None
    return round((len(times) - 1) / (max(times) - min(times)), 1)


@dataclass(frozen=True)
class Target:
    """A figure the service should reach: where it sits in the results and its bound."""

    id: str
    label: str
    path: tuple[str, ...]
    bound: float
    unit: str
    at_most: bool  # True: the figure must not exceed the bound; False: it must reach it

    def text(self) -> str:
        """The bound as the table shows it."""
        sign = "≤" if self.at_most else "≥"
        bound = f"{self.bound:.0%}" if self.unit == "%" else f"{self.bound:g} {self.unit}"
        return f"{sign} {bound}"

    def measured(self, results: dict) -> float | None:
        """The figure in `results`, or None when it was not measured."""
        value: Any = results
        for key in self.path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def verdict(self, value: float | None) -> str:
        """PASS or MISS; n/a when the figure is missing."""
        if value is None:
            return "n/a"
        return "PASS" if (value <= self.bound if self.at_most else value >= self.bound) else "MISS"


STEADY_P99_MS = 1000
FANOUT_LAST_RECEIPT_S = 4.0
LADDER_LATE_MS = 2000
# (name, label, path in a provider latency's section, bound, unit, at_most): judged at every latency.
AT_EVERY_LATENCY = (
    ("steady", "steady state: alert → receipt p99", ("steady", "receipt_p99_ms"), STEADY_P99_MS, "ms", True),
    ("backlog", "steady state: backlog growth", ("steady", "backlog_growth_per_s"), 1, "jobs/s", True),
    ("worker_cpu", "worker CPU per delivery", ("steady", "worker_cpu_ms_per_delivery"), 4, "ms", True),
    ("api_cpu", "API CPU per alert", ("steady", "api_cpu_ms_per_alert"), 6, "ms", True),
    ("rss", "worker RSS (largest worker)", ("rss", "worker_peak_mb"), 150, "MB", True),
    ("ladder", "ladder step after its due time, p99", ("ladder", "late_p99_ms"), LADDER_LATE_MS, "ms", True),
    ("burst", "burst: first alert → receipt p99", ("burst", "first_p99_ms"), STEADY_P99_MS, "ms", True),
    ("burst_messages", "burst: messages per person", ("burst", "most_per_person"), 2, "messages", True),
)
RATIO = ("ratio", "fan-out deliveries/s vs the direct limit", ("limit", "ratio"))
# The same, judged only at the provider latency (ms) they name.
AT_LATENCY = {
    "1": ((*RATIO, 0.8, "%", False),),
    "100": (
        (*RATIO, 0.7, "%", False),
        ("fanout", "fan-out: last receipt", ("fanout", "last_receipt_s"), FANOUT_LAST_RECEIPT_S, "s", True),
    ),
}
ONCE = (
    Target("ingest", "ingest p99 at 200 alerts/s", ("ingest", "200", "p99_ms"), 25, "ms", True),
    Target("backfill", "backfill: batch of 100 p99", ("backfill", "batch_p99_ms"), 1000, "ms", True),
    # "Well under a single POST's": half the single POST's own target, 6 ms.
    Target(
        "backfill_cpu", "backfill: API CPU per alert", ("backfill", "api_cpu_ms_per_alert"), 3, "ms", True
    ),
    Target(
        "backfill_steady",
        "backfill: steady alert → receipt p99 beside it",
        ("backfill", "steady_receipt_p99_ms"),
        STEADY_P99_MS,
        "ms",
        True,
    ),
)


def target_id(name: str, latency: str) -> str:
    """The id of target `name` at provider latency `latency` ms."""
    return f"{name}@{latency}"


def targets(latencies: Iterable[str]) -> list[Target]:
    """Every target of a run at these provider latencies (ms, as the results key them), then ingest's."""
    found = [
        Target(target_id(name, latency), f"{label} @ {latency} ms", ("by_latency", latency, *path), *bound)
        for latency in latencies
        for name, label, path, *bound in AT_EVERY_LATENCY + AT_LATENCY.get(latency, ())
    ]
    return found + list(ONCE)


def judge(results: dict) -> list[dict]:
    """Each target with the measured figure and its verdict."""
    judged = []
    for target in targets(results.get("by_latency", {})):
        value = target.measured(results)
        judged.append(
            {
                "id": target.id,
                "label": target.label,
                "target": target.text(),
                "measured": value,
                "verdict": target.verdict(value),
            }
        )
    return judged


def summary(by_latency: dict) -> dict[str, dict[str, float | None]]:
    """The headline figures of each provider latency, keyed by its ms."""
    return {
        latency: {
            "ratio_to_direct": section["limit"]["ratio"],
            "fanout_last_receipt_s": section["fanout"]["last_receipt_s"],
            "steady_p99_s": _seconds(section["steady"]["receipt_p99_ms"]),
            "worker_cpu_ms_per_delivery": section["steady"]["worker_cpu_ms_per_delivery"],
            "api_cpu_ms_per_alert": section["steady"]["api_cpu_ms_per_alert"],
            "worker_rss_mb": section["rss"]["worker_peak_mb"],
            "redis_commands_per_delivery": section["fanout"]["redis_commands_per_delivery"],
        }
        for latency, section in by_latency.items()
    }


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else round(milliseconds / 1000, 4)


def _fmt(*values: float | None, unit: str = "") -> str:
    text = " / ".join("-" if value is None else f"{value:g}" for value in values)
    return f"{text} {unit}".rstrip()


def _ingest_rows(ingest: dict) -> list[Row]:
    rows: list[Row] = []
    for rate, run in ingest.items():
        scenario = f"ingest {rate}/s"
        latencies = (run["p50_ms"], run["p95_ms"], run["p99_ms"], run["max_ms"])
        rows += [
            (scenario, "POST latency p50 / p95 / p99 / max", _fmt(*latencies, unit="ms"), None),
            (scenario, "p99", _fmt(run["p99_ms"], unit="ms"), "ingest" if rate == "200" else None),
            (
                scenario,
                "sent / ok / errors / late / dropped",
                _fmt(run["sent"], run["ok"], run["errors"], run["late"], run["dropped"]),
                None,
            ),
            (scenario, "alerts/s answered", _fmt(run["achieved_per_s"]), None),
            (scenario, "API CPU per alert", _fmt(run["api_cpu_ms_per_alert"], unit="ms"), None),
        ]
    return rows


def _receipt_latencies(section: dict) -> str:
    keys = ("receipt_p50_ms", "receipt_p95_ms", "receipt_p99_ms", "receipt_max_ms")
    return _fmt(*(section[key] for key in keys), unit="ms")


def _cost_rows(scenario: str, section: dict, cpu_target: str | None = None) -> list[Row]:
    """What a delivery cost the stack in a scenario: worker CPU, Redis commands and SQL statements."""
    return [
        (
            scenario,
            "worker CPU per delivery",
            _fmt(section["worker_cpu_ms_per_delivery"], unit="ms"),
            cpu_target,
        ),
        (scenario, "Redis commands per delivery", _fmt(section["redis_commands_per_delivery"]), None),
        (scenario, "SQL statements per delivery", _fmt(section["sql_statements_per_delivery"]), None),
    ]


def _fanout_rows(latency: str, fanout: dict) -> list[Row]:
    scenario = f"fan-out 1 → {fanout['recipients']} @ {latency} ms"
    return [
        (scenario, "POST answered in", _fmt(fanout["post_ms"], unit="ms"), None),
        (scenario, "first receipt", _fmt(fanout["first_receipt_s"], unit="s"), None),
        (scenario, "last receipt", _fmt(fanout["last_receipt_s"], unit="s"), target_id("fanout", latency)),
        (scenario, "alert → receipt p50 / p95 / p99 / max", _receipt_latencies(fanout), None),
        (scenario, "deliveries/s at the stub", _fmt(fanout["deliveries_per_s"]), None),
        *_cost_rows(scenario, fanout),
        (scenario, "received / expected", _fmt(fanout["received"], fanout["expected"]), None),
    ]


def _steady_rows(latency: str, steady: dict) -> list[Row]:
    scenario = f"steady {steady['alerts_per_s']:g}/s × {steady['recipients']} @ {latency} ms"
    return [
        (scenario, "alert → receipt p50 / p95 / p99 / max", _receipt_latencies(steady), None),
        (
            scenario,
            "alert → receipt p99",
            _fmt(steady["receipt_p99_ms"], unit="ms"),
            target_id("steady", latency),
        ),
        (
            scenario,
            "deliveries/s offered / at the stub",
            _fmt(steady["offered_deliveries_per_s"], steady["deliveries_per_s"]),
            None,
        ),
        (
            scenario,
            "backlog max / mean / at end of posting",
            _fmt(steady["backlog_max"], steady["backlog_mean"], steady["backlog_at_end"]),
            None,
        ),
        (
            scenario,
            "backlog growth while posting",
            _fmt(steady["backlog_growth_per_s"], unit="jobs/s"),
            target_id("backlog", latency),
        ),
        *_cost_rows(scenario, steady, target_id("worker_cpu", latency)),
        (
            scenario,
            "API CPU per alert",
            _fmt(steady["api_cpu_ms_per_alert"], unit="ms"),
            target_id("api_cpu", latency),
        ),
        (scenario, "POST latency p99", _fmt(steady["post_p99_ms"], unit="ms"), None),
        (
            scenario,
            "alerts sent / late / dropped / errors",
            _fmt(steady["sent"], steady["late"], steady["dropped"], steady["errors"]),
            None,
        ),
        (scenario, "received / expected", _fmt(steady["received"], steady["expected"]), None),
    ]


def _ladder_rows(latency: str, ladder: dict) -> list[Row]:
    scenario = f"ladder step at {ladder['wait_s']:g} s, under the steady load @ {latency} ms"
    keys = ("late_p50_ms", "late_p95_ms", "late_p99_ms", "late_max_ms")
    late = _fmt(*(ladder[key] for key in keys), unit="ms")
    p99 = _fmt(ladder["late_p99_ms"], unit="ms")
    steps = _fmt(ladder["steps_received"], ladder["steps_expected"])
    return [
        (scenario, "after its due time p50 / p95 / p99 / max", late, None),
        (scenario, "after its due time p99", p99, target_id("ladder", latency)),
        (scenario, "steps received / expected", steps, None),
    ]


def _burst_rows(latency: str, burst: dict) -> list[Row]:
    scenario = f"{burst['bursts']} bursts of thefts, grouped over {burst['window_s']:g} s, @ {latency} ms"
    keys = ("first_p50_ms", "first_p95_ms", "first_p99_ms", "first_max_ms")
    return [
        (
            scenario,
            "first alert → receipt p50 / p95 / p99 / max",
            _fmt(*(burst[key] for key in keys), unit="ms"),
            None,
        ),
        (
            scenario,
            "first alert → receipt p99",
            _fmt(burst["first_p99_ms"], unit="ms"),
            target_id("burst", latency),
        ),
        (
            scenario,
            "messages per person, most",
            _fmt(burst["most_per_person"]),
            target_id("burst_messages", latency),
        ),
        (
            scenario,
            "messages received / expected",
            _fmt(burst["messages_received"], burst["messages_expected"]),
            None,
        ),
    ]


def _limit_rows(latency: str, limit: dict) -> list[Row]:
    scenario = f"limit {limit['posts']} direct @ {latency} ms"
    return [
        (
            scenario,
            f"deliveries/s, PushSender.send on {limit['threads']} threads",
            _fmt(limit["deliveries_per_s"]),
            None,
        ),
        (
            scenario,
            "ours (fan-out) / limit",
            f"{limit['ratio']:.0%}" if limit["ratio"] is not None else "-",
            target_id("ratio", latency),
        ),
        (scenario, "received / errors", _fmt(limit["received"], limit["errors"]), None),
    ]


def _peak_rows(scenario: str, rss: dict, worker_target: str | None) -> list[Row]:
    """The API's peak RSS, summed and its largest process, and the largest worker's."""
    api = f"api (master + {rss['api_processes'] - 1} workers)"
    return [
        (
            scenario,
            f"{api} summed / largest",
            _fmt(rss["api_total_mb"], rss["api_largest_mb"], unit="MB"),
            None,
        ),
        (scenario, "largest worker", _fmt(rss["worker_peak_mb"], unit="MB"), worker_target),
    ]


def _latency_rows(latency: str, section: dict) -> list[Row]:
    """Every line of one provider latency: fan-out, the limit, steady state and the peak RSS meanwhile."""
    return (
        _fanout_rows(latency, section["fanout"])
        + _limit_rows(latency, section["limit"])
        + _steady_rows(latency, section["steady"])
        + _ladder_rows(latency, section["ladder"])
        + _burst_rows(latency, section["burst"])
        + _peak_rows(f"peak RSS @ {latency} ms", section["rss"], target_id("rss", latency))
    )


def _rss_rows(rss: dict) -> list[Row]:
    scenario = "peak RSS, whole run"
    rows = _peak_rows(scenario, rss, None)
    rows += [(scenario, name, _fmt(size, unit="MB"), None) for name, size in rss["workers_mb"].items()]
    rows += [
        (scenario, name, _fmt(rss[f"{name}_mb"], unit="MB"), None) for name in ("stub", "redis", "scheduler")
    ]
    return rows


def _cpu_rows(cpu: dict) -> list[Row]:
    rows: list[Row] = []
    for scenario, used in cpu.items():
        parts = {key: value for key, value in used.items() if key != "wall"}
        figure = f"CPU s {' / '.join(parts)} (in {used['wall']:g} s wall)"
        rows.append((f"cpu {scenario}", figure, _fmt(*parts.values(), unit="s"), None))
    return rows


def _backfill_rows(backfill: dict) -> list[Row]:
    scenario = "backfill: batches of 100 old alerts, 10/s, beside the steady load"
    latencies = (backfill[f"batch_{name}_ms"] for name in ("p50", "p95", "p99", "max"))
    return [
        (scenario, "batch POST latency p50 / p95 / p99 / max", _fmt(*latencies, unit="ms"), None),
        (scenario, "batch POST latency p99", _fmt(backfill["batch_p99_ms"], unit="ms"), "backfill"),
        (scenario, "API CPU per alert", _fmt(backfill["api_cpu_ms_per_alert"], unit="ms"), "backfill_cpu"),
        (
            scenario,
            "steady alert → receipt p99 beside it",
            _fmt(backfill["steady_receipt_p99_ms"], unit="ms"),
            "backfill_steady",
        ),
        (
            scenario,
            "batches sent / ok / errors / late / dropped; alerts stored",
            _fmt(backfill["sent"], backfill["ok"], backfill["errors"], backfill["late"], backfill["dropped"])
            + f"; {backfill['alerts_stored']}",
            None,
        ),
    ]


def rows(results: dict) -> list[Row]:
    """Every line of the table: each provider latency's scenarios, ingest, peak RSS and CPU."""
    by_latency = [
        row for latency, section in results["by_latency"].items() for row in _latency_rows(latency, section)
    ]
    return (
        by_latency
        + _ingest_rows(results["ingest"])
        + _backfill_rows(results["backfill"])
        + _rss_rows(results["rss"])
        + _cpu_rows(results["cpu"])
    )


def render_table(results: dict) -> str:
    """The one table: scenario, figure, measured value, and the target with PASS/MISS where there is one."""
    verdicts = {target["id"]: target for target in results["targets"]}
    lines = [("scenario", "figure", "measured", "target", "")]
    for scenario, figure, measured, target_id in rows(results):
        target = verdicts.get(target_id)
        lines.append(
            (
                scenario,
                figure,
                measured,
                target["target"] if target else "",
                target["verdict"] if target else "",
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def write_json(results: dict, path: Path) -> None:
    """Write the results, series included, as indented JSON."""
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _rate_over_time(times: Sequence[float]) -> tuple[list[float], list[float]]:
    """Receipts per second in bins of about a fiftieth of the span (at least 0.1 s): bin edges and rates."""
    width = max(0.1, (max(times) - min(times)) / 50)
    bins = [0] * (int(max(times) / width) + 1)
    for moment in times:
        bins[int(moment / width)] += 1
    return [index * width for index in range(len(bins) + 1)], [count / width for count in bins]


def plot(series: dict, path: Path) -> None:
    """(a) CDFs of alert → receipt latency, by provider latency and scenario; (b...) receipts/s by latency."""
    figure, axes = plt.subplots(1, 1 + len(series), figsize=(6.5 * (1 + len(series)), 5), squeeze=False)
    cdf, *rate_panels = axes[0]
    for index, (latency, scenarios) in enumerate(series.items()):
        for name in ("steady", "fanout"):
            label, _, line = SERIES[name]
            latencies = sorted(scenarios[name]["latency_ms"])
            if latencies:
                fractions = [(rank + 1) / len(latencies) for rank in range(len(latencies))]
                cdf.step(
                    latencies,
                    fractions,
                    where="post",
                    label=f"{label} @ {latency} ms",
                    color=f"C{index}",
                    linestyle=line,
                )
    cdf.axvline(STEADY_P99_MS, color="grey", linestyle=":", label=f"steady p99 target ({STEADY_P99_MS:g} ms)")
    cdf.axvline(
        FANOUT_LAST_RECEIPT_S * 1000,
        color="grey",
        linestyle="--",
        label=f"fan-out target @ 100 ms ({FANOUT_LAST_RECEIPT_S:g} s)",
    )
    cdf.set(xscale="log", xlabel="alert → receipt (ms)", ylabel="fraction of receipts")
    cdf.set_title("(a) alert → receipt latency, CDF")
    cdf.legend(loc="upper left", fontsize="small")
    cdf.grid(True, which="both", alpha=0.3)
    for index, (panel, (latency, scenarios)) in enumerate(zip(rate_panels, series.items(), strict=True)):
        for name in ("fanout", "steady", "limit"):
            if scenarios[name]["receipts_s"]:
                edges, values = _rate_over_time(scenarios[name]["receipts_s"])
                panel.stairs(values, edges, label=SERIES[name][0], color=SERIES[name][1])
        panel.set(xlabel="seconds since the scenario started", ylabel="receipts/s at the stub")
        panel.set_title(f"({chr(ord('b') + index)}) receipts/s, provider answering in {latency} ms")
        panel.legend(loc="upper right")
        panel.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
