"""The bench harness end to end at a tiny size: every section is measured and the plot is drawn.

No timing is asserted: the figures depend on the machine; this only keeps the harness working.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.bench import growth, parse_args

ROOT = Path(__file__).resolve().parent.parent
# The kernel counts a process's CPU in 10 ms ticks, so each of the API's three processes may read up to 10 ms
# short: the steady run posts 20 alerts (~100 ms of API CPU) so that its cost per alert cannot read as zero.
TINY = [
    "--workers=1",
    "--worker-concurrency=4",
    "--provider-latency=1,100",
    "--rates=50,200",
    "--ingest-duration=0.5",
    "--fanout=20",
    "--steady-rate=20",
    "--steady-recipients=2",
    "--steady-duration=1",
    "--concurrency=8",
    "--drain-timeout=30",
]
LATENCIES = ("1", "100")
STEADY_DELIVERIES = 20 * 1 * 2  # rate × duration × recipients
SECTIONS = ("summary", "ingest", "backfill", "by_latency", "rss", "cpu", "redis_commands", "sql_statements")
SUMMARY_KEYS = {
    "ratio_to_direct",
    "fanout_last_receipt_s",
    "steady_p99_s",
    "worker_cpu_ms_per_delivery",
    "api_cpu_ms_per_alert",
    "worker_rss_mb",
    "redis_commands_per_delivery",
}


def leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    else:
        yield path, value


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    finished = subprocess.run(
        [sys.executable, "-m", "bench.bench", *TINY, f"--out={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout, json.loads((out / "results.json").read_text()), out / "results.png"


def test_every_section_holds_only_numbers(tiny_run):
    _, results, _ = tiny_run
    for section in SECTIONS:
        values = list(leaves(results[section]))
        assert values, section
        for path, value in values:
            assert isinstance(value, int | float) and not isinstance(value, bool), (section, path, value)
    assert set(results["ingest"]) == {"50", "200"}
    assert results["rss"]["workers_mb"].keys() == {"worker-0"}


def test_the_provider_dependent_scenarios_run_once_per_latency(tiny_run):
    _, results, _ = tiny_run
    assert tuple(results["by_latency"]) == tuple(results["series"]) == LATENCIES
    for section in results["by_latency"].values():
        assert section.keys() == {"fanout", "limit", "steady", "ladder", "burst", "rss"}
        burst = section["burst"]
        assert burst["messages_received"] == burst["messages_expected"] > 0
        assert burst["most_per_person"] == 2, "a burst's first alert, then one summary"
        ladder = section["ladder"]
        assert ladder["steps_received"] == ladder["steps_expected"] == ladder["alerts"] * 2 > 0
        assert section["rss"]["workers_mb"].keys() == {"worker-0"}
    assert results["meta"]["provider_latencies_ms"] == [1, 100]
    assert results["meta"]["ingest_provider_latency_ms"] == 1


def test_a_backfill_stores_every_alert_of_its_batches(tiny_run):
    _, results, _ = tiny_run
    backfill = results["backfill"]
    assert backfill["ok"] == backfill["offered"] > 0
    assert backfill["alerts_stored"] == backfill["batches"] * 100
    assert backfill["steady_alerts"] > 0


def test_the_summary_has_the_headline_figures_of_each_latency(tiny_run):
    _, results, _ = tiny_run
    assert tuple(results["summary"]) == LATENCIES
    for latency, figures in results["summary"].items():
        assert figures.keys() == SUMMARY_KEYS, latency
        steady = results["by_latency"][latency]["steady"]
        assert figures["steady_p99_s"] == pytest.approx(steady["receipt_p99_ms"] / 1000, abs=1e-4)
        assert figures["ratio_to_direct"] == results["by_latency"][latency]["limit"]["ratio"]


def test_every_receipt_arrived(tiny_run):
    _, results, _ = tiny_run
    for section in results["by_latency"].values():
        assert section["fanout"]["received"] == section["fanout"]["expected"] == 20
        assert section["steady"]["received"] == section["steady"]["expected"] == STEADY_DELIVERIES
        assert section["limit"]["received"] == 20


def test_the_limit_runs_as_many_sends_at_once_as_the_workers(tiny_run):
    stdout, results, _ = tiny_run
    assert results["meta"]["total_concurrency"] == 4
    assert all(section["limit"]["threads"] == 4 for section in results["by_latency"].values())
    assert stdout.count("PushSender.send on 4 threads") == len(LATENCIES)


def test_costs_per_delivery_and_per_alert_are_figured(tiny_run):
    stdout, results, _ = tiny_run
    for section in results["by_latency"].values():
        for scenario in ("fanout", "steady"):
            for figure in ("worker_cpu_ms", "redis_commands", "sql_statements"):
                assert section[scenario][f"{figure}_per_delivery"] > 0, (scenario, figure)
        assert section["steady"]["api_cpu_ms_per_alert"] > 0
    assert all(run["api_cpu_ms_per_alert"] > 0 for run in results["ingest"].values())
    per_delivery = ("worker CPU per delivery", "Redis commands per delivery", "SQL statements per delivery")
    for figure in per_delivery:
        lines = [line for line in stdout.splitlines() if figure in line]
        assert len(lines) == 2 * len(LATENCIES), figure
        assert all(" - " not in f"{line} " for line in lines), lines
    # Steady state at each latency, each ingest rate, the backfill.
    assert stdout.count("API CPU per alert") == len(LATENCIES) + 2 + 1
    assert stdout.count("backlog growth while posting") == len(LATENCIES)


def test_targets_are_judged_and_printed(tiny_run):
    stdout, results, _ = tiny_run
    assert [target["id"] for target in results["targets"]] == [
        target.id for target in report.targets(LATENCIES)
    ]
    assert {target["verdict"] for target in results["targets"]} <= {"PASS", "MISS"}
    assert stdout.startswith("scenario")
    judged = [line for line in stdout.splitlines() if line.endswith(("PASS", "MISS"))]
    assert len(judged) == len(results["targets"])
    assert sum("≥ 80%" in line for line in judged) == sum("≥ 70%" in line for line in judged) == 1


def test_the_plot_is_a_png(tiny_run):
    _, results, png = tiny_run
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    for latency in LATENCIES:
        assert len(results["series"][latency]["steady"]["latency_ms"]) == STEADY_DELIVERIES, latency


def test_the_series_feed_the_plot_from_the_json(tmp_path, tiny_run):
    _, results, _ = tiny_run
    report.plot(results["series"], tmp_path / "again.png")
    assert (tmp_path / "again.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--rates=0,50", "positive rates"),
        ("--env=NOEQUALS", "NAME=VALUE"),
        ("--provider-latency=1,1", "distinct milliseconds"),
        ("--provider-latency=-5", "distinct milliseconds"),
        ("--provider-latency=fast", "distinct milliseconds"),
        ("--worker-concurrency=0", ">= 1"),
        ("--env=WORKER_CONCURRENCY=8", "--worker-concurrency"),
    ],
)
def test_bad_options_are_refused(argument, message, capsys):
    with pytest.raises(SystemExit):
        parse_args([argument])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([1.0], 99, 1.0), ([1.0, 2.0], 50, 1.5), ([3.0, 1.0, 2.0, 4.0, 5.0], 100, 5.0), ([0.0, 10.0], 95, 9.5)],
)
def test_percentile_interpolates_between_ranks(values, q, expected):
    assert report.percentile(values, q) == pytest.approx(expected)


def test_receipt_rate_needs_two_distinct_receipts():
    assert report.receipt_rate([1.0]) is None
    assert report.receipt_rate([1.0, 1.0]) is None
    assert report.receipt_rate([0.0, 0.5, 1.0]) == 2.0


def test_a_missing_figure_is_not_judged():
    verdicts = {target["id"]: target["verdict"] for target in report.judge({"ingest": {"50": {"p99_ms": 1}}})}
    assert verdicts["ingest"] == "n/a"


def test_backlog_growth_is_the_slope_of_the_samples():
    assert growth([(100.0, 0), (101.0, 2), (102.0, 4)]) == 2.0
    assert growth([(100.0, 3), (101.0, 3)]) == 0.0
    assert growth([(100.0, 3)]) is None


def test_targets_bound_to_a_latency_are_judged_only_there():
    ids = {target.id for target in report.targets(["1", "50"])}
    assert {"ratio@1", "steady@50", "rss@50", "ingest"} <= ids
    assert not {"ratio@50", "fanout@1", "fanout@50"} & ids
