"""The bench's figures: percentiles and rates, the targets, the table, the JSON file and the plot."""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)

# Each plotted scenario's label and colour, the same in both panels.
SERIES = {
    "steady": ("steady state", "tab:blue"),
    "fanout": ("fan-out", "tab:orange"),
    "limit": ("direct to the stub (the limit)", "tab:green"),
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


TARGETS = (
    Target("ratio", "deliveries/s vs the direct limit", ("limit", "ratio"), 0.5, "%", at_most=False),
    Target("fanout", "fan-out: time to the last receipt", ("fanout", "last_receipt_s"), 2.0, "s", True),
    Target("steady", "steady state: alert → receipt p99", ("steady", "receipt_p99_ms"), 250, "ms", True),
    Target("ingest", "ingest p99 at 200 alerts/s", ("ingest", "200", "p99_ms"), 25, "ms", True),
    Target("rss", "worker RSS (largest worker)", ("rss", "worker_peak_mb"), 150, "MB", True),
)


def judge(results: dict) -> list[dict]:
    """Each target with the measured figure and its verdict."""
    judged = []
    for target in TARGETS:
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


def _fanout_rows(fanout: dict) -> list[Row]:
    scenario = f"fan-out 1 → {fanout['recipients']}"
    return [
        (scenario, "POST answered in", _fmt(fanout["post_ms"], unit="ms"), None),
        (scenario, "first receipt", _fmt(fanout["first_receipt_s"], unit="s"), None),
        (scenario, "last receipt", _fmt(fanout["last_receipt_s"], unit="s"), "fanout"),
        (scenario, "alert → receipt p50 / p95 / p99 / max", _receipt_latencies(fanout), None),
        (scenario, "deliveries/s at the stub", _fmt(fanout["deliveries_per_s"]), None),
        (scenario, "worker CPU per delivery", _fmt(fanout["worker_cpu_ms_per_delivery"], unit="ms"), None),
        (scenario, "received / expected", _fmt(fanout["received"], fanout["expected"]), None),
    ]


def _steady_rows(steady: dict) -> list[Row]:
    scenario = f"steady {steady['alerts_per_s']:g}/s × {steady['recipients']}"
    return [
        (scenario, "alert → receipt p50 / p95 / p99 / max", _receipt_latencies(steady), None),
        (scenario, "alert → receipt p99", _fmt(steady["receipt_p99_ms"], unit="ms"), "steady"),
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
        (scenario, "worker CPU per delivery", _fmt(steady["worker_cpu_ms_per_delivery"], unit="ms"), None),
        (scenario, "POST latency p99", _fmt(steady["post_p99_ms"], unit="ms"), None),
        (
            scenario,
            "alerts sent / late / dropped / errors",
            _fmt(steady["sent"], steady["late"], steady["dropped"], steady["errors"]),
            None,
        ),
        (scenario, "received / expected", _fmt(steady["received"], steady["expected"]), None),
    ]


def _limit_rows(limit: dict) -> list[Row]:
    scenario = f"limit {limit['posts']} direct"
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
            "ratio",
        ),
        (scenario, "received / errors", _fmt(limit["received"], limit["errors"]), None),
    ]


def _rss_rows(rss: dict) -> list[Row]:
    api = f"api (master + {rss['api_processes'] - 1} workers)"
    rows: list[Row] = [
        (
            "peak RSS",
            f"{api} summed / largest",
            _fmt(rss["api_total_mb"], rss["api_largest_mb"], unit="MB"),
            None,
        )
    ]
    rows += [("peak RSS", name, _fmt(size, unit="MB"), None) for name, size in rss["workers_mb"].items()]
    rows.append(("peak RSS", "largest worker", _fmt(rss["worker_peak_mb"], unit="MB"), "rss"))
    rows += [
        ("peak RSS", name, _fmt(rss[f"{name}_mb"], unit="MB"), None)
        for name in ("stub", "redis", "scheduler")
    ]
    return rows


def _cpu_rows(cpu: dict) -> list[Row]:
    rows: list[Row] = []
    for scenario, used in cpu.items():
        parts = {key: value for key, value in used.items() if key != "wall"}
        figure = f"CPU s {' / '.join(parts)} (in {used['wall']:g} s wall)"
        rows.append((f"cpu {scenario}", figure, _fmt(*parts.values(), unit="s"), None))
    return rows


def rows(results: dict) -> list[Row]:
    """Every line of the table, scenario by scenario."""
    return (
        _ingest_rows(results["ingest"])
        + _fanout_rows(results["fanout"])
        + _steady_rows(results["steady"])
        + _limit_rows(results["limit"])
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
    """(a) the CDF of alert → receipt latency, steady state and fan-out; (b) receipts/s over time."""
    figure, (cdf, rates) = plt.subplots(1, 2, figsize=(13, 5))
    for name in ("steady", "fanout"):
        latencies = sorted(series[name]["latency_ms"])
        if latencies:
            fractions = [(index + 1) / len(latencies) for index in range(len(latencies))]
            cdf.step(latencies, fractions, where="post", label=SERIES[name][0], color=SERIES[name][1])
    cdf.axvline(250, color="grey", linestyle=":", label="steady p99 target (250 ms)")
    cdf.axvline(2000, color="grey", linestyle="--", label="fan-out target (2 s)")
    cdf.set(xscale="log", xlabel="alert → receipt (ms)", ylabel="fraction of receipts")
    cdf.set_title("(a) alert → receipt latency, CDF")
    cdf.legend(loc="upper left")
    cdf.grid(True, which="both", alpha=0.3)
    for name in ("fanout", "steady", "limit"):
        if series[name]["receipts_s"]:
            edges, values = _rate_over_time(series[name]["receipts_s"])
            rates.stairs(values, edges, label=SERIES[name][0], color=SERIES[name][1])
    rates.set(xlabel="seconds since the scenario started", ylabel="receipts/s at the stub")
    rates.set_title("(b) receipts/s over time")
    rates.legend(loc="upper right")
    rates.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
