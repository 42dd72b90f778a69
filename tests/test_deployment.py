"""The files that start the service agree with the code and with each other."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_PROCESSES = {"api", "worker", "scheduler", "stub"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_procfile_runs_redis_and_every_app_process():
    assert set(procfile()) == APP_PROCESSES | {"redis"}


def test_compose_runs_the_same_processes_with_postgres_redis_and_e2e():
    services = compose()["services"]
    assert APP_PROCESSES | {"postgres", "redis", "e2e"} <= set(services)
    for name in APP_PROCESSES | {"postgres", "redis"}:
        assert "healthcheck" in services[name], name


@pytest.mark.parametrize("command", ["worker", "scheduler", "load-data", "db"])
def test_flask_commands_used_by_the_process_files_exist(app, command):
    assert command in app.cli.list_commands(None)
    files = (
        (ROOT / "Procfile").read_text()
        + (ROOT / "docker-compose.yml").read_text()
        + (ROOT / "Makefile").read_text()
    )
    assert f"flask {command}" in files


def test_requirements_files_match_the_lock():
    lock = tomllib.loads((ROOT / "poetry.lock").read_text())
    locked = {package["name"].lower(): package["version"] for package in lock["package"]}
    for filename in ("requirements.txt", "requirements-dev.txt"):
        pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;]+)", (ROOT / filename).read_text(), re.MULTILINE)
        assert pins, filename
        for name, version in pins:
            assert locked.get(name.lower().replace("_", "-")) == version, (filename, name)
    main = (ROOT / "requirements.txt").read_text()
    assert "pytest==" not in main
    assert "pytest==" in (ROOT / "requirements-dev.txt").read_text()
