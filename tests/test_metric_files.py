"""Ended processes' metric files are folded into one per type, every count kept once, even after a crash."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from nootification.observability.metric_files import JOURNAL_FILE, fold_ended_processes
from nootification.observability.metrics_server import process_registry

SENT = mmap_key("sends", "sends_total", ["channel"], ["push"], "Sends.")
LATENCY = mmap_key("latency", "latency_seconds_count", ["channel"], ["push"], "Latency.")


def ended_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write(directory: Path, name: str, values: dict[str, float]) -> None:
    """A metrics file as prometheus-client writes it."""
    written = MmapedDict(str(directory / name))
    for key, value in values.items():
        written.write_value(key, value, 0.0)
    written.close()


def scraped(directory: Path) -> dict[str, float]:
    """Every sample a scrape of the directory reads, by name."""
    text = generate_latest(process_registry(str(directory))).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def db_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.suffix == ".db")


@pytest.fixture
def directory(tmp_path) -> Path:
    return tmp_path


def test_a_scrape_folds_the_ended_processes_and_counts_the_same(directory):
    first, second, live = ended_pid(), ended_pid(), os.getpid()
    write(directory, f"counter_{first}.db", {SENT: 3})
    write(directory, f"counter_{second}.db", {SENT: 4})
    write(directory, f"counter_{live}.db", {SENT: 5})
    write(directory, f"histogram_{first}.db", {LATENCY: 2})

    assert scraped(directory) == {"sends_total": 12.0, "latency_seconds_count": 2.0}
    assert db_files(directory) == sorted(["counter_archive.db", f"counter_{live}.db", "histogram_archive.db"])

    third = ended_pid()
    write(directory, f"counter_{third}.db", {SENT: 10})
    assert scraped(directory)["sends_total"] == 22.0
    assert db_files(directory) == sorted(["counter_archive.db", f"counter_{live}.db", "histogram_archive.db"])
    assert fold_ended_processes(str(directory)) == 0


def test_a_fold_killed_before_renaming_its_archive_is_undone(directory):
    pid = ended_pid()
    write(directory, "counter_archive.db", {SENT: 1})
    write(directory, f"counter_{pid}.db", {SENT: 2})
    write(directory, "counter_archive.db.new", {SENT: 3})  # the sum, never put in place
    (directory / JOURNAL_FILE).write_text(json.dumps({"counter": [f"counter_{pid}.db"]}))

    assert scraped(directory)["sends_total"] == 3.0
    assert db_files(directory) == ["counter_archive.db"]
    assert not (directory / JOURNAL_FILE).exists()


def test_a_fold_killed_after_renaming_its_archive_removes_what_it_had_folded(directory):
    pid = ended_pid()
    write(directory, "counter_archive.db", {SENT: 3})  # already holds the process's 2
    write(directory, f"counter_{pid}.db", {SENT: 2})
    (directory / JOURNAL_FILE).write_text(json.dumps({"counter": [f"counter_{pid}.db"]}))

    assert scraped(directory)["sends_total"] == 3.0
    assert db_files(directory) == ["counter_archive.db"]


def test_a_fold_killed_before_its_journal_leaves_a_new_archive_that_is_never_used(directory):
    pid = ended_pid()
    write(directory, f"counter_{pid}.db", {SENT: 2})
    write(directory, "counter_archive.db.new", {SENT: 40})

    assert scraped(directory)["sends_total"] == 2.0
