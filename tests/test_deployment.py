"""The files that start the service agree with the code and with each other."""

import configparser
import os
import re
import runpy
import subprocess
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from nootification import create_app
from nootification.config import Config
from nootification.senders.twilio.rest import E164
from tests.helpers.config import make_config
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


SUPERVISORD_CONF = ROOT / "ops" / "supervisord.conf"
# What `make run` runs, with the Makefile's default ports; each starts from the project directory.
COMMANDS = {
    "redis": "python -m nootification.redis_server --port 6379 --dir var/redis",
    "api": "flask serve --port 8000 --threads 8",
    "worker": "flask worker",
    "scheduler": "flask scheduler",
    "stub": "python third_party.py --port 5000 --smtp-port 2525",
}
# Each program stops before those it needs: the worker finishes its job against the stub, the scheduler
# unregisters in Redis, and every one of them uses Redis.
STOP_ORDER = ["worker", "scheduler", "api", "stub", "redis"]


def supervisord() -> configparser.RawConfigParser:
    """ops/supervisord.conf as written, %(...)s expansions left in."""
    parser = configparser.RawConfigParser()
    parser.read(SUPERVISORD_CONF)
    return parser


def programs() -> dict[str, dict[str, str]]:
    """Each [program:NAME] section's settings."""
    config = supervisord()
    return {
        section.removeprefix("program:"): dict(config[section])
        for section in config.sections()
        if section.startswith("program:")
    }


def expand(value: str) -> str:
    """A setting as supervisord expands it under `make run` with the Makefile's default ports."""
    makefile = (ROOT / "Makefile").read_text()
    ports = dict(re.findall(r"^(\w+_PORT) \?= (\d+)$", makefile, re.MULTILINE))
    exported = re.search(r"^export (.*_PORT.*)$", makefile, re.MULTILINE).group(1).split()
    names = re.findall(r"%\(ENV_(\w+)\)s", value)
    assert set(names) <= set(exported) & set(ports), names
    return re.sub(r"%\(ENV_(\w+)\)s", lambda match: ports[match.group(1)], value).replace(
        "%(here)s", str(SUPERVISORD_CONF.parent)
    )


def quick_start_env() -> dict[str, str]:
    """What `make run` exports: the global exports with defaults, then the run target's own."""
    makefile = (ROOT / "Makefile").read_text()
    exports = re.findall(r"^(?:run: )?export (\w+) \?= (.+)$", makefile, re.MULTILINE)
    return {name: value.strip() for name, value in exports}


def test_supervisord_runs_redis_and_every_app_process_from_the_project_directory():
    assert set(programs()) == APP_PROCESSES | {"redis"} == set(COMMANDS)
    for name, program in programs().items():
        assert expand(program["command"]) == COMMANDS[name], name
        assert Path(expand(program["directory"])).resolve() == ROOT, name


def test_supervisord_starts_again_a_program_that_dies_and_shows_its_output():
    for name, program in programs().items():
        assert program["autorestart"] == "true", name
        assert int(program["startsecs"]) <= 2 and int(program["startretries"]) >= 3, name
        assert program["stdout_logfile"] == "/dev/stdout", name
        assert program["stdout_logfile_maxbytes"] == "0", name
        assert program["redirect_stderr"] == "true", name
        # A SIGKILL after stopwaitsecs also reaches gunicorn's workers.
        assert program["killasgroup"] == "true", name


def test_supervisord_stops_redis_last_and_the_ci_checks_that_order():
    priorities = {name: int(program["priority"]) for name, program in programs().items()}
    assert len(set(priorities.values())) == len(priorities)
    # supervisord stops programs in reverse priority, one after the other.
    assert sorted(priorities, key=priorities.get, reverse=True) == STOP_ORDER
    quickstart = (ROOT / ".ci" / "quickstart-e2e").read_text()
    assert f'stop_order="{" ".join(STOP_ORDER)}"' in quickstart


def test_supervisord_waits_long_enough_for_a_clean_stop():
    stopwaitsecs = {name: int(program["stopwaitsecs"]) for name, program in programs().items()}
    # RQ's warm stop finishes the job in hand: one send, bounded by the HTTP or SMTP timeouts.
    send = max(Config.HTTP_CONNECT_TIMEOUT + Config.HTTP_READ_TIMEOUT, Config.SMTP_TIMEOUT)
    assert stopwaitsecs["worker"] > send
    # waitress waits up to 5 s for the requests in flight (nootification/api_server.py).
    assert stopwaitsecs["api"] > 5
    assert min(stopwaitsecs.values()) >= 10


def test_supervisord_runs_in_the_foreground_with_its_files_in_var():
    config = supervisord()
    assert config["supervisord"]["nodaemon"] == "true"
    assert "var/" in (ROOT / ".gitignore").read_text().splitlines()
    for path in (
        config["supervisord"]["pidfile"],
        config["supervisord"]["logfile"],
        config["unix_http_server"]["file"],
        config["supervisorctl"]["serverurl"].removeprefix("unix://"),
    ):
        assert Path(expand(path)).resolve().parent == ROOT / "var", path
    # supervisorctl talks over a socket only the user can open; nothing listens on the network.
    assert config["unix_http_server"]["chmod"] == "0700"
    assert not config.has_section("inet_http_server")
    # Python's output reaches the console line by line, not when a pipe's buffer fills.
    assert 'PYTHONUNBUFFERED="1"' in config["supervisord"]["environment"]


def test_compose_runs_the_same_processes_with_postgres_redis_and_e2e():
    services = compose()["services"]
    assert APP_PROCESSES | {"postgres", "redis", "e2e"} <= set(services)
    for name in APP_PROCESSES | {"postgres", "redis"}:
        assert "healthcheck" in services[name], name


OPS_SERVICES = {"prometheus", "alertmanager", "grafana"}


def test_compose_runs_prometheus_alertmanager_and_grafana_with_healthchecks():
    services = compose()["services"]
    for name in OPS_SERVICES:
        assert "healthcheck" in services[name], name
        assert services[name]["restart"] == "unless-stopped", name


def test_compose_publishes_ports_on_loopback_only():
    published = [port for service in compose()["services"].values() for port in service.get("ports", [])]
    assert len(published) >= 5
    assert all(port.startswith("127.0.0.1:") for port in published), published


def mounts(service: dict) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts."""
    return {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    }


def test_compose_mounts_the_ops_files_where_the_services_read_them():
    services = compose()["services"]
    assert mounts(services["prometheus"])["/etc/prometheus"] == "./ops/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert mounts(services["alertmanager"])["/etc/alertmanager"] == "./ops/alertmanager"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in services["alertmanager"]["command"]
    grafana = mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == "./ops/grafana/provisioning"
    providers = yaml.safe_load((ROOT / "ops/grafana/provisioning/dashboards/dashboards.yml").read_text())
    [provider] = providers["providers"]
    assert grafana[provider["options"]["path"]] == "./ops/grafana/dashboards"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/overview.json"
    for container_path, host_path in {**grafana, **mounts(services["postgres"])}.items():
        assert (ROOT / host_path).exists(), container_path


def test_grafana_admin_password_comes_from_the_environment_with_a_default():
    environment = compose()["services"]["grafana"]["environment"]
    assert environment["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-admin}"
    assert environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_grafana_reads_the_database_with_the_read_only_role_postgres_creates():
    services = compose()["services"]
    datasources = yaml.safe_load((ROOT / "ops/grafana/provisioning/datasources/datasources.yml").read_text())
    [database] = [source for source in datasources["datasources"] if source["uid"] == "nootification-db"]
    script = mounts(services["postgres"])["/docker-entrypoint-initdb.d/grafana-reader.sh"]
    assert f"CREATE ROLE {database['user']} LOGIN" in (ROOT / script).read_text()
    assert database["url"] == "postgres:5432"
    assert database["jsonData"]["database"] == services["postgres"]["environment"]["POSTGRES_DB"]
    password = services["grafana"]["environment"]["GRAFANA_DB_PASSWORD"]
    assert services["postgres"]["environment"]["GRAFANA_DB_PASSWORD"] == password


def test_prometheus_scrapes_the_api_and_every_worker_where_compose_serves_them():
    services = compose()["services"]
    config = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    [api_target] = jobs["nootification-api"]["static_configs"][0]["targets"]
    assert api_target == "api:8000" and "0.0.0.0:8000" in services["api"]["command"]
    [workers] = jobs["nootification-worker"]["dns_sd_configs"]
    assert workers["names"] == ["worker"]
    assert services["worker"]["environment"]["METRICS_PORT"] == workers["port"]
    assert services["worker"]["environment"]["METRICS_ADDR"] == "0.0.0.0"
    [alertmanager] = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager == "alertmanager:9093"


def test_the_api_counts_every_gunicorn_worker_through_a_fresh_multiprocess_directory():
    api = compose()["services"]["api"]
    directory = api["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert directory in api["tmpfs"]
    makefile = (ROOT / "Makefile").read_text()
    assert "rm -rf var/metrics && mkdir -p var/metrics" in makefile
    supervisord = (
        "PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/metrics \\\n"
        "\t  exec python ops/foreground.py supervisord --configuration ops/supervisord.conf"
    )
    assert supervisord in makefile
    assert "def child_exit(" in (ROOT / "gunicorn.conf.py").read_text()


@pytest.mark.parametrize("command", ["worker", "scheduler", "load-data", "db"])
def test_flask_commands_used_by_the_process_files_exist(app, command):
    assert command in app.cli.list_commands(None)
    files = (
        SUPERVISORD_CONF.read_text()
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
    assert "--smtp-port %(ENV_SMTP_PORT)s" in programs()["stub"]["command"]
    # `make run` exports SMTP_PORT to every process: the stub listens on it and the app sends mail to it.
    assert re.search(r"^export .*\bSMTP_PORT\b", (ROOT / "Makefile").read_text(), re.MULTILINE)


def test_the_code_knows_its_own_version():
    from nootification.config import VERSION

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["poetry"]["version"] == VERSION


def test_the_open_alerts_warning_is_said_once_by_gunicorns_master_not_by_every_process(
    monkeypatch, caplog, tmp_path, redis_url
):
    monkeypatch.setattr(Config, "ALLOW_UNAUTHENTICATED_ALERTS", True)
    said = []
    server = SimpleNamespace(log=SimpleNamespace(warning=said.append))
    runpy.run_path(str(ROOT / "gunicorn.conf.py"))["when_ready"](server)
    assert said == ["ALLOW_UNAUTHENTICATED_ALERTS is on: unsigned alerts without a token are accepted"]

    with caplog.at_level("WARNING"):
        create_app(make_config(ALLOW_UNAUTHENTICATED_ALERTS=True, REDIS_URL=redis_url))
    assert not [record for record in caplog.records if "ALLOW_UNAUTHENTICATED_ALERTS" in record.getMessage()]


def test_compose_makes_the_push_keys_once_before_the_stub_and_the_app_read_them():
    services = compose()["services"]
    migrate = " ".join(services["migrate"]["command"])
    env = services["worker"]["environment"]
    stub_list = services["stub"]["environment"]["STUB_FCM_SERVICE_ACCOUNTS_FILE"]
    assert f"flask vapid new-key --out {env['WEBPUSH_VAPID_PRIVATE_KEY_FILE']}" in migrate
    made = f"--make-fcm-account {env['FCM_SERVICE_ACCOUNT_FILE']} {stub_list}"
    assert made in migrate and "--token-uri http://stub:5000/fcm/token" in migrate
    assert migrate.index("vapid new-key") < migrate.index("flask db upgrade")
    assert services["stub"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("migrate", "api", "worker", "scheduler", "e2e"):
        assert "push-keys:/keys" in services[name]["volumes"], name
    assert "stub-keys:/stub-keys" in services["migrate"]["volumes"]
    assert services["stub"]["volumes"] == ["stub-keys:/stub-keys:ro"] and stub_list.startswith("/stub-keys/")
    assert env["FCM_API_URL"] == "http://stub:5000/fcm"
    assert "mkdir /keys /stub-keys" in (ROOT / "Dockerfile").read_text()


def test_the_stub_in_compose_gets_none_of_the_services_secrets():
    services = compose()["services"]
    stub = services["stub"]
    # Only its own settings: no SECRET_KEY, provider token, vendor secret or private key file of the service.
    assert set(stub["environment"]) == {"STUB_FCM_SERVICE_ACCOUNTS_FILE"}
    app_env = services["worker"]["environment"]
    assert not set(stub["environment"].values()) & {str(value) for value in app_env.values()}
    assert not any(volume.startswith("push-keys:") for volume in stub["volumes"])
    assert stub["image"] == services["worker"]["image"]


def test_the_image_ships_the_stub_package_beside_its_entry_point():
    # compose runs `python third_party.py`, which takes every provider from the stub/ package.
    assert "COPY . ." in (ROOT / "Dockerfile").read_text()
    ignored = {line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not ignored & {"stub", "stub/*", "stub/**", "third_party.py", "*.py"}


def test_compose_makes_a_random_secret_key_once_and_passes_it_by_file(tmp_path):
    services = compose()["services"]
    # No key written in the file, nor one a variable left unset would fall back to.
    assert not [name for name, service in services.items() if "SECRET_KEY" in service.get("environment", {})]
    for name in ("migrate", "api", "worker", "scheduler"):
        assert services[name]["environment"]["SECRET_KEY_FILE"] == "/keys/secret-key", name
        assert "push-keys:/keys" in services[name]["volumes"], name
    migrate = services["migrate"]["command"][2]
    # Made before the first flask command: every one reads SECRET_KEY_FILE at start.
    making, _, rest = migrate.partition(" && flask ")
    assert "flask" not in making and rest.startswith("vapid new-key")

    # The same shell, on a directory of this machine: a random key, readable by its owner only, kept.
    script = making.replace("/keys/", f"{tmp_path}/")
    subprocess.run(["sh", "-c", script], check=True)
    key = (tmp_path / "secret-key").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600
    subprocess.run(["sh", "-c", script], check=True)
    assert (tmp_path / "secret-key").read_text().strip() == key
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["sh", "-c", making.replace("/keys/", f"{other}/")], check=True)
    assert (other / "secret-key").read_text().strip() != key


def test_make_run_makes_the_push_keys_and_points_both_push_services_at_the_stub():
    env = quick_start_env()
    assert env["FCM_API_URL"] == "http://127.0.0.1:$(STUB_PORT)/fcm"
    makefile = (ROOT / "Makefile").read_text()
    assert 'flask vapid new-key --out "$$WEBPUSH_VAPID_PRIVATE_KEY_FILE"' in makefile
    assert '--make-fcm-account "$$FCM_SERVICE_ACCOUNT_FILE"' in makefile
    assert env["STUB_FCM_SERVICE_ACCOUNTS_FILE"].startswith("$(CURDIR)/var/")


@pytest.mark.parametrize(
    ("arguments", "environment", "public_url"),
    [
        ([], {}, "http://127.0.0.1:8000"),
        (["API_PORT=18000"], {}, "http://127.0.0.1:18000"),
        ([], {"API_PORT": "18001"}, "http://127.0.0.1:18001"),
        (["API_PORT=18000", "PUBLIC_URL=https://alerts.example.com"], {}, "https://alerts.example.com"),
        (["API_PORT=18000"], {"PUBLIC_URL": "https://alerts.example.com"}, "https://alerts.example.com"),
    ],
)
def test_make_run_sends_links_to_the_port_the_api_listens_on_unless_public_url_is_set(
    tmp_path, arguments, environment, public_url
):
    # Every recipe line of `make run` goes to a shell that only writes down the PUBLIC_URL it was given: what
    # the processes would get, with nothing run.
    seen, shell = tmp_path / "seen", tmp_path / "shell"
    shell.write_text('#!/bin/sh\nprintf "%s\\n" "$PUBLIC_URL" >> "$SEEN"\n')
    shell.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ("PUBLIC_URL", "API_PORT")}
    env.update(environment, SEEN=str(seen), MAKEFLAGS="")
    subprocess.run(["make", "-s", "run", f"SHELL={shell}", *arguments], cwd=ROOT, env=env, check=True)
    assert set(seen.read_text().splitlines()) == {public_url}


def test_compose_e2e_reaches_the_api_where_the_links_sent_point():
    services = compose()["services"]
    e2e = services["e2e"]
    public_url = services["api"]["environment"]["PUBLIC_URL"]
    assert public_url == "${PUBLIC_URL:-http://127.0.0.1:8000}"
    # 127.0.0.1:8000 in the proxy's network namespace is nginx, as it is from the host through the port.
    assert e2e["network_mode"] == "service:proxy"
    assert "127.0.0.1:8000:8000" in services["proxy"]["ports"]
    assert e2e["command"][e2e["command"].index("--api") + 1] == "http://127.0.0.1:8000"
