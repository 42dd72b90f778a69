"""The collector in long-running processes: what they built at start-up is frozen, later objects are not."""

import gc
import os
import subprocess
import sys

import pytest

from nootification import cli
from nootification.garbage_collection import freeze_start_up_objects
from tests.helpers.processes import ROOT


class Node:
    """An object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_objects_alive_at_the_freeze_leave_the_collectors_scans():
    kept = [Node() for _ in range(1000)]
    freeze_start_up_objects()
    scanned = {id(thing) for thing in gc.get_objects()}
    assert gc.get_freeze_count() >= len(kept)
    assert not any(id(node) in scanned for node in kept)


def test_cycles_made_after_the_freeze_are_still_collected():
    freeze_start_up_objects()
    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2


def test_the_api_process_freezes_its_application(tmp_path, redis_url):
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }
    probe = "import gc, wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    answer = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert answer.returncode == 0, answer.stderr
    frozen, scanned = map(int, answer.stdout.split())
    assert frozen > 50_000  # the loaded application
    assert scanned < frozen / 10


def test_the_worker_freezes_its_application_before_it_works(app, db):
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() > 50_000


@pytest.mark.parametrize(("command", "entry"), [(["serve"], "serve"), (["scheduler"], "keep_running")])
def test_the_server_and_the_scheduler_freeze_before_they_run(app, db, monkeypatch, command, entry):
    frozen_when_running: list[int] = []

    def run(*_args, **_kwargs) -> None:
        frozen_when_running.append(gc.get_freeze_count())

    monkeypatch.setattr(cli, entry, run)
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 0, result.output
    assert frozen_when_running and frozen_when_running[0] > 50_000
