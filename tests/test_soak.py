"""The soak's bookkeeping without a stack: windows, their rows, the summary, growth, the provider fault."""

import threading
import time
from types import SimpleNamespace

import pytest
import requests

from bench import faults, soak, soak_report
from bench.chaos_evidence import Receipt
from bench.soak_report import Evidence, FaultSpan, Sample

T0 = 1_800_000_000.0
WINDOW = 10.0
USERS = ("u1", "u2")


@pytest.mark.parametrize(
    ("minutes", "window_minutes", "seconds", "count"),
    [(60, 5, 300, 12), (5, 5, 60, 5), (20, 5, 240, 5), (10, 1, 60, 10)],
)
def test_a_short_run_keeps_five_windows(minutes, window_minutes, seconds, count):
    assert soak_report.window_seconds(minutes, window_minutes) == seconds
    assert soak_report.window_count(minutes, seconds) == count


def test_an_instant_falls_in_its_window_or_none():
    assert soak_report.window_index(T0, T0, WINDOW, 3) == 0
    assert soak_report.window_index(T0 + 29.9, T0, WINDOW, 3) == 2
    assert soak_report.window_index(T0 + 30, T0, WINDOW, 3) is None
    assert soak_report.window_index(T0 - 0.1, T0, WINDOW, 3) is None


def test_an_alert_is_quiet_only_clear_of_every_fault_and_its_recovery():
    stall = FaultSpan(1, "stall", T0 + 10, T0 + 30)
    assert soak_report.quiet(T0 + 9, [stall])
    assert not soak_report.quiet(T0 + 10, [stall])
    # Its backlog spills past its end, into the next window: recovery counts against that window too.
    assert not soak_report.quiet(T0 + 30 + soak_report.RECOVERY_S - 0.1, [stall])
    assert soak_report.quiet(T0 + 30 + soak_report.RECOVERY_S, [stall])
    assert soak_report.quiet(T0 + 20, [])


def sample(at: float, worker: float, api: float, fds: int = 40) -> Sample:
    return Sample(at, worker, api, fds, fds + 10, 2.0, 5.0 + at - T0, 3)


def three_windows() -> list[dict]:
    """Window 0: a1, one repeat absorbed under its key. Window 1 (a fault): a2, u2 lost. Window 2: a3, u1 sent
    twice under two keys."""
    posted = {"a1": T0 + 1, "a2": T0 + 12, "a3": T0 + 25}
    expected = {(alert, user, "push") for alert in posted for user in USERS}
    receipts = [
        Receipt(("a1", "u1", "push"), "", 2),
        Receipt(("a1", "u2", "push"), "", 1),
        Receipt(("a2", "u1", "push"), "", 1),
        Receipt(("a3", "u1", "push"), "", 1),
        Receipt(("a3", "u1", "push"), "", 1),
        Receipt(("a3", "u2", "push"), "", 1),
    ]
    arrivals = [("a1", T0 + 1.1), ("a1", T0 + 1.3), ("a2", T0 + 14), ("a3", T0 + 25.2)]
    arrivals += [("a3", T0 + 25.4), ("a3", T0 + 25.5)]
    evidence = Evidence(posted, expected, receipts, arrivals, {"a1": 0.01, "a2": 1.5, "a3": 0.02})
    fault = FaultSpan(1, "restart Redis", T0 + 10, T0 + 11)
    samples = [
        sample(T0 + 2, 100, 200),
        sample(T0 + 5, 110, 200),
        sample(T0 + 8, 90, 200),
        Sample(T0 + 11, None, None, None, None, None, None, None),
        sample(T0 + 15, 100, 210, fds=50),
        sample(T0 + 22, 105, 220),
        sample(T0 + 28, 120, 230),
    ]
    return soak_report.window_rows(T0, WINDOW, 3, [fault], evidence, samples)


def test_each_window_counts_its_alerts_deliveries_losses_and_repeats():
    rows = three_windows()

    figures = [(r["alerts"], r["expected"], r["deliveries"], r["lost"], r["duplicates"]) for r in rows]
    assert figures == [(1, 2, 2, 0, 0), (1, 2, 1, 1, 0), (1, 2, 2, 0, 1)]
    assert [row["absorbed"] for row in rows] == [1, 0, 0]
    assert [row["fault"] for row in rows] == [None, "restart Redis", None]
    assert rows[1]["fault_s"] == 1.0
    assert [row["deliveries_per_s"] for row in rows] == [0.2, 0.1, 0.3]


def test_each_window_has_its_receipt_percentiles_and_its_quiet_part():
    rows = three_windows()

    assert rows[0]["receipt_p50_s"] == pytest.approx(0.2)
    assert rows[0]["receipt_p99_s"] == pytest.approx(0.298)
    assert rows[1]["receipt_p99_s"] == 2.0
    assert [row["post_p99_s"] for row in rows] == [0.01, 1.5, 0.02]
    # a2 came during the fault, a3 within its recovery: neither is quiet.
    assert (rows[1]["quiet_p99_s"], rows[1]["quiet_receipts"]) == (None, 0)
    assert (rows[2]["quiet_p99_s"], rows[2]["quiet_receipts"]) == (None, 0)
    assert (rows[0]["quiet_p99_s"], rows[0]["quiet_receipts"]) == (pytest.approx(0.298), 2)


def test_each_window_reads_the_stack_from_its_own_samples():
    rows = three_windows()

    assert [(row["worker_rss_mb"], row["api_rss_mb"]) for row in rows] == [
        (100, 200),
        (100, 210),
        (112.5, 225),
    ]
    assert [(row["worker_fds"], row["api_fds"]) for row in rows] == [(40, 50), (50, 60), (40, 50)]
    # Sizes as the window ends; an unreadable sample (a restart, a stopped Redis) is left out.
    assert [row["database_mb"] for row in rows] == [13.0, 20.0, 33.0]
    assert [row["redis_mb"] for row in rows] == [2.0, 2.0, 2.0]
    assert [row["backlog_max"] for row in rows] == [3, 3, 3]


def test_the_summary_sums_losses_and_repeats_and_takes_the_worst_quiet_p99():
    rows = three_windows()

    found = soak_report.summary(rows)

    assert (found["lost"], found["duplicates"], found["absorbed"]) == (1, 1, 1)
    assert found["p99_quiet_s"] == pytest.approx(0.298)
    assert (found["alerts"], found["deliveries"], found["windows"], found["faults"]) == (3, 5, 3, 1)
    assert soak_report.failed(found)
    assert not soak_report.failed(found | {"lost": 0, "duplicates": 0})


def test_growth_runs_from_the_first_window_after_the_warm_up_to_the_last_and_takes_the_worst():
    rows = three_windows()

    found = soak_report.summary(rows)

    # Workers 100 → 112.5, the API 210 → 225: the workers grew more.
    assert found["rss_growth_ratio"] == 1.125
    # Descriptors: the workers' 50 → 40, the API's 60 → 50; the larger ratio is the API's.
    assert found["fd_growth_ratio"] == 0.833
    assert soak_report.reference_window(12) == 1
    assert soak_report.reference_window(1) == 0
    assert soak_report.growth_ratio(None, 100) is None
    assert soak_report.growth_ratio(100, None) is None


def test_cpu_is_summed_across_a_restart_and_shared_out_in_cores():
    tally = soak_report.CpuTally()
    readings = [
        {"machine": 100.0, "api": 10.0, "worker-0": 5.0, "worker-1": 5.0},
        {"machine": 110.0, "api": 12.0, "worker-0": 8.0, "worker-1": 7.0},
        # worker-0 was SIGKILLed and started again: its new process has used 1 s so far.
        {"machine": 120.0, "api": 14.0, "worker-0": 1.0, "worker-1": 9.0},
    ]
    for reading in readings:
        tally.add(reading)

    assert dict(tally.used) == {"machine": 20.0, "api": 4.0, "worker-0": 4.0, "worker-1": 4.0}
    cores = soak_report.cpu_cores(tally.used, wall=10.0)
    assert (cores["workers"], cores["api"], cores["stub"], cores["others"]) == (0.8, 0.4, 0.0, 0.8)


def test_the_targets_are_judged_from_the_summary():
    summary = {
        "lost": 0,
        "duplicates": 0,
        "p99_quiet_s": 1.2,
        "rss_growth_ratio": 1.05,
        "fd_growth_ratio": None,
    }

    assert soak_report.verdicts(summary) == {
        "lost = 0": "PASS",
        "duplicates = 0": "PASS",
        "p99 quiet ≤ 1 s": "MISS",
        "RSS growth ≤ 1.1×": "PASS",
        "descriptors growth ≤ 1.1×": "n/a",
    }


def test_the_table_has_a_line_per_window_with_its_fault_last():
    lines = soak_report.table(three_windows())

    assert len(lines) == 4
    assert lines[0].split()[:3] == ["min", "alerts", "deliveries"]
    assert lines[2].endswith("  restart Redis")
    assert lines[1].endswith("  (none)")


def test_the_plot_is_a_png(tmp_path):
    path = tmp_path / "soak.png"
    samples = [sample(T0 + 2, 100, 200), sample(T0 + 15, 100, 210)]

    soak_report.plot(three_windows(), samples, T0, path)

    assert path.read_bytes().startswith(b"\x89PNG")


def test_the_faults_come_in_the_issues_order_the_provider_errors_a_third_of_a_short_window():
    descriptions = [description for description, _ in soak.faults_in_turn(60)]

    assert descriptions == [
        "SIGKILL worker-0, started again",
        "restart Redis",
        "Redis SIGSTOP 20 s",
        "database write lock 15 s",
        "provider 30% 500s for 20 s",
        "restart the API",
    ]
    assert soak.faults_in_turn(300)[4][0] == "provider 30% 500s for 60 s"


def test_the_provider_answers_500s_at_the_rate_for_a_while_then_heals(stub):
    stack = SimpleNamespace(stub_url=stub.url)
    errors = threading.Thread(target=faults.provider_errors, args=(stack, 0.3, 0.5))

    errors.start()
    time.sleep(0.2)
    during = requests.get(f"{stub.url}/control", timeout=5).json()["settings"]["error_rate"]
    errors.join()
    after = requests.get(f"{stub.url}/control", timeout=5).json()["settings"]["error_rate"]

    assert (during, after) == (0.3, 0)


def test_the_command_lines_defaults_are_the_issues_hour():
    options = soak.parse_args([])

    assert (options.minutes, options.rate, options.staff, options.latency_ms) == (60, 20, 10, 100)
    assert options.window_minutes == 5
    assert options.database_url is None
    with pytest.raises(SystemExit):
        soak.parse_args(["--minutes", "0"])
