"""The files that start the service agree with the code and with each other."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from nootification.senders.sms import E164
from third_party import TELEGRAM_TOKEN

ROOT = Path(__file__).resolve().parent.parent
APP_PROCESSES = {"api", "worker", "scheduler", "stub"}
# Each provider's base URL setting and the stub's path that emulates the provider.
PROVIDER_PATHS = {
    "THIRD_PARTY_URL": "",
    "SLACK_API_URL": "/slack/api",
    "TELEGRAM_API_URL": "/telegram",
    "TWILIO_API_URL": "/twilio",
}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def quick_start_env() -> dict[str, str]:
    """What `make run` exports: the global exports with defaults, then the run target's own."""
    makefile = (ROOT / "Makefile").read_text()
    exports = re.findall(r"^(?:run: )?export (\w+) \?= (.+)$", makefile, re.MULTILINE)
    return {name: value.strip() for name, value in exports}


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


@pytest.mark.parametrize(
    ("env", "stub", "smtp_host"),
    [
        pytest.param(quick_start_env(), "http://127.0.0.1:$(STUB_PORT)", "127.0.0.1", id="make run"),
        pytest.param(
            compose()["services"]["worker"]["environment"], "http://stub:5000", "stub", id="compose"
        ),
    ],
)
def test_every_provider_is_the_stub_with_secrets_it_accepts(env, stub, smtp_host):
    for name, path in PROVIDER_PATHS.items():
        assert env[name] == stub + path, name
    assert env["SMTP_HOST"] == smtp_host
    assert env["SMTP_SECURITY"] == "none"
    assert env["SLACK_BOT_TOKEN"].startswith("xoxb-")
    assert TELEGRAM_TOKEN.fullmatch(env["TELEGRAM_BOT_TOKEN"])
    assert env["TWILIO_ACCOUNT_SID"] and env["TWILIO_AUTH_TOKEN"]
    assert E164.fullmatch(env["TWILIO_FROM_NUMBER"])


def test_the_app_sends_mail_to_the_port_the_stub_listens_on():
    services = compose()["services"]
    stub = services["stub"]["command"]
    assert stub[stub.index("--smtp-port") + 1] == services["worker"]["environment"]["SMTP_PORT"]
    assert "--smtp-port $SMTP_PORT" in procfile()["stub"]
    # `make run` exports SMTP_PORT to every process: the stub listens on it and the app sends mail to it.
    assert re.search(r"^export .*\bSMTP_PORT\b", (ROOT / "Makefile").read_text(), re.MULTILINE)
