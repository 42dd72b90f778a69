"""The bench harness end to end at a tiny size: every section is measured and the plot is drawn.

No timing is asserted: the figures depend on the machine; this only keeps the harness working.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.bench import parse_args

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "--workers=1",
    "--rates=50,200",
    "--ingest-duration=0.5",
    "--fanout=20",
    "--steady-rate=5",
    "--steady-recipients=2",
    "--steady-duration=1",
    "--concurrency=8",
    "--drain-timeout=30",
]
SECTIONS = ("ingest", "fanout", "steady", "limit", "rss", "cpu")


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
        timeout=120,
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


def test_every_receipt_arrived(tiny_run):
    _, results, _ = tiny_run
    assert results["fanout"]["received"] == results["fanout"]["expected"] == 20
    assert results["steady"]["received"] == results["steady"]["expected"] == 10
    assert results["limit"]["received"] == 20


def test_cpu_per_delivery_and_per_alert_are_figured(tiny_run):
    stdout, results, _ = tiny_run
    assert results["fanout"]["worker_cpu_ms_per_delivery"] > 0
    assert results["steady"]["worker_cpu_ms_per_delivery"] > 0
    assert all(run["api_cpu_ms_per_alert"] > 0 for run in results["ingest"].values())
    assert stdout.count("worker CPU per delivery") == 2
    assert stdout.count("API CPU per alert") == 2


def test_targets_are_judged_and_printed(tiny_run):
    stdout, results, _ = tiny_run
    assert [target["id"] for target in results["targets"]] == [target.id for target in report.TARGETS]
    assert {target["verdict"] for target in results["targets"]} <= {"PASS", "MISS"}
    assert stdout.startswith("scenario")
    assert sum(line.endswith(("PASS", "MISS")) for line in stdout.splitlines()) == len(report.TARGETS)


def test_the_plot_is_a_png(tiny_run):
    _, results, png = tiny_run
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert len(results["series"]["steady"]["latency_ms"]) == 10


def test_the_series_feed_the_plot_from_the_json(tmp_path, tiny_run):
    _, results, _ = tiny_run
    report.plot(results["series"], tmp_path / "again.png")
    assert (tmp_path / "again.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("argument", "message"),
    [("--rates=0,50", "positive rates"), ("--env=NOEQUALS", "NAME=VALUE")],
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
