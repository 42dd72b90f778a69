"""The volume bench's figures side by side: each on the empty and on the loaded database, their ratio, the
summary a script reads, a table and a plot."""

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)

from bench.report import percentile  # noqa: E402

# The targets: loaded ÷ empty for each figure, every read's p99, the steady receipts beside the purge over
# those without it, and a purge batch's longest transaction.
MAX_RATIO = 1.2
MAX_READ_P99_MS = 100.0
MAX_PURGE_RATIO = 1.5
MAX_PURGE_TRANSACTION_S = 1.0


def figures(run: dict) -> dict[str, float | None]:
    """The figures of one database's run that are compared, by name."""
    steady = run["steady"]
    named = {
        "fanout_last_receipt_s": run["fanout"]["last_receipt_s"],
        "steady_api_cpu_ms_per_alert": steady["api_cpu_ms_per_alert"],
        "steady_post_p99_ms": steady["post_p99_ms"],
        "steady_receipt_p99_ms": steady["receipt_p99_ms"],
    }
    for rate, ingest in run["ingest"].items():
        named[f"ingest_{rate}_post_p99_ms"] = ingest["p99_ms"]
        named[f"ingest_{rate}_api_cpu_ms_per_alert"] = ingest["api_cpu_ms_per_alert"]
    for name, read in run["reads"].items():
        named[f"read_{name}_p99_ms"] = read["p99_ms"]
    return named


def compare(empty: dict, loaded: dict) -> dict[str, dict[str, float | None]]:
    """Each figure on the empty and on the loaded database, and loaded ÷ empty."""
    before, after = figures(empty), figures(loaded)
    return {
        name: {
            "empty": before[name],
            "loaded": after[name],
            "ratio": round(after[name] / before[name], 2)
            if before[name] and after[name] is not None
            else None,
        }
        for name in before
    }


def summary(comparison: dict, load: dict, loaded: dict) -> dict:
    """The headline figures: the worst ratio and its figure, the slowest read, the purge's, the load's."""
    ratios = {name: figure["ratio"] for name, figure in comparison.items() if figure["ratio"] is not None}
    worst = max(ratios, key=ratios.get) if ratios else None
    reads = [
        figure[side]
        for name, figure in comparison.items()
        if name.startswith("read_")
        for side in ("empty", "loaded")
        if figure[side] is not None
    ]
    purge = loaded["purge"]
    without, beside = loaded["steady"]["receipt_p99_ms"], purge["steady"]["receipt_p99_ms"]
    return {
        "max_loaded_over_empty": ratios[worst] if worst else None,
        "max_loaded_over_empty_figure": worst,
        "max_read_p99_ms": max(reads) if reads else None,
        "purge_receipt_p99_ms": beside,
        "purge_receipt_p99_over_without": round(beside / without, 2) if without and beside else None,
        "purge_longest_transaction_s": purge["longest_transaction_s"],
        "purge_seconds": purge["seconds"],
        "load_seconds": load["seconds"]["total"] if "seconds" in load else None,
        "database_mb": load["database_mb"],
    }


def verdicts(results: dict) -> list[tuple[str, str, str]]:
    """Each target: what, the figure, PASS or MISS."""
    summary_ = results["summary"]

    def judged(value: float | None, bound: float) -> str:
        return "n/a" if value is None else ("PASS" if value <= bound else "MISS")

    return [
        (
            f"loaded ÷ empty ≤ {MAX_RATIO} (worst: {summary_['max_loaded_over_empty_figure']})",
            f"{summary_['max_loaded_over_empty']}",
            judged(summary_["max_loaded_over_empty"], MAX_RATIO),
        ),
        (
            f"every read's p99 ≤ {MAX_READ_P99_MS:g} ms",
            f"{summary_['max_read_p99_ms']} ms",
            judged(summary_["max_read_p99_ms"], MAX_READ_P99_MS),
        ),
        (
            f"steady receipt p99 beside the purge ≤ {MAX_PURGE_RATIO}× without",
            f"{summary_['purge_receipt_p99_over_without']}×",
            judged(summary_["purge_receipt_p99_over_without"], MAX_PURGE_RATIO),
        ),
        (
            f"a purge batch's longest transaction < {MAX_PURGE_TRANSACTION_S:g} s",
            f"{summary_['purge_longest_transaction_s']} s",
            judged(summary_["purge_longest_transaction_s"], MAX_PURGE_TRANSACTION_S),
        ),
    ]


def render_table(results: dict) -> str:
    """Every compared figure (empty, loaded, ratio), then each target's verdict."""
    lines = [f"{'figure':<42} {'empty':>10} {'loaded':>10} {'ratio':>7}"]
    for name, figure in results["comparison"].items():
        cells = [
            f"{figure[side]:>10}" if figure[side] is not None else f"{'-':>10}"
            for side in ("empty", "loaded")
        ]
        ratio = f"{figure['ratio']:>7}" if figure["ratio"] is not None else f"{'-':>7}"
        lines.append(f"{name:<42} {cells[0]} {cells[1]} {ratio}")
    lines.append("")
    lines.extend(f"{verdict:<5} {what}: {value}" for what, value, verdict in verdicts(results))
    return "\n".join(lines)


def plot(results: dict, path) -> None:
    """(a) each read's p99 on the empty and the loaded database, with the 100 ms target; (b) loaded ÷ empty
    for every compared figure, with the 1.2 target."""
    comparison = results["comparison"]
    reads = [name for name in comparison if name.startswith("read_")]
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    positions = range(len(reads))
    for offset, side in ((-0.2, "empty"), (0.2, "loaded")):
        left.barh([p + offset for p in positions], [comparison[n][side] or 0 for n in reads], 0.4, label=side)
    left.axvline(MAX_READ_P99_MS, color="red", linestyle="--", label=f"target {MAX_READ_P99_MS:g} ms")
    left.set_yticks(list(positions), [n.removeprefix("read_").removesuffix("_p99_ms") for n in reads])
    left.set_xscale("log")
    left.set_xlabel("p99, ms (log)")
    left.set_title("(a) reads: p99 on the empty and the loaded database")
    left.legend()
    named = [n for n in comparison if comparison[n]["ratio"] is not None]
    right.barh(range(len(named)), [comparison[n]["ratio"] for n in named])
    right.axvline(MAX_RATIO, color="red", linestyle="--", label=f"target {MAX_RATIO}")
    right.set_yticks(range(len(named)), named, fontsize=7)
    right.set_xlabel("loaded ÷ empty")
    ratios = [comparison[n]["ratio"] for n in named]
    right.set_title(f"(b) loaded ÷ empty (median {percentile(ratios, 50):.2f})" if ratios else "(b)")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
