"""The ops stack: config and rules pass promtool, dashboards are well formed, and every query works."""

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from nootification.extensions import db as _db
from nootification.models import Level
from tests.helpers.factories import alert_payload, fail_next, make_location, make_user

ROOT = Path(__file__).resolve().parent.parent
OPS = ROOT / "ops"
RULE_FILES = sorted((OPS / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((OPS / "prometheus" / "tests").glob("*.yml"))
DASHBOARDS = sorted((OPS / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = OPS / "grafana" / "provisioning" / "datasources" / "datasources.yml"
METRIC_NAME = re.compile(r"\bnootification[_:][A-Za-z0-9_:]*")
# Grafana's variables, given the values a dashboard has when opened.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$channel": ".*"}


def tool(name: str) -> str:
    """The path of a Prometheus tool; CI installs them, so only a developer's machine may skip."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)")
    return path


def run(*command: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=120)


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict]:
    return [rule for path in RULE_FILES for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alerting_rules() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def recording_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def dashboards() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARDS}


def panels(dashboard: dict) -> list[dict]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def datasource_uids() -> dict[str, str]:
    return {source["uid"]: source["type"] for source in load_yaml(DATASOURCES)["datasources"]}


def promql_panels() -> list[tuple[str, dict, dict]]:
    return [
        (name, panel, target)
        for name, dashboard in dashboards().items()
        for panel in panels(dashboard)
        for target in panel["targets"]
        if target["datasource"]["type"] == "prometheus"
    ]


def sql_targets() -> list[tuple[str, str, str]]:
    """(panel title, SQL, Grafana format) of every PostgreSQL query, the template variables' included."""
    queries = []
    for dashboard in dashboards().values():
        for panel in panels(dashboard):
            for target in panel["targets"]:
                if target["datasource"]["type"] == "grafana-postgresql-datasource":
                    queries.append((panel["title"], target["rawSql"], target["format"]))
        for variable in dashboard["templating"]["list"]:
            if variable["datasource"]["type"] == "grafana-postgresql-datasource":
                queries.append((f"variable {variable['name']}", variable["query"], "table"))
    return queries


def concrete(expression: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    assert "$" not in expression, expression
    return expression


def every_promql() -> list[str]:
    """Each PromQL expression of the rules, the panels and the template variables."""
    variables = [
        variable["definition"]
        for dashboard in dashboards().values()
        for variable in dashboard["templating"]["list"]
        if variable["datasource"]["type"] == "prometheus"
    ]
    return (
        [rule["expr"] for rule in rules()] + [target["expr"] for _, _, target in promql_panels()] + variables
    )


# Prometheus and Alertmanager configuration


def test_prometheus_config_and_the_rule_files_it_loads_are_valid():
    result = run(tool("promtool"), "check", "config", OPS / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout
    for path in RULE_FILES:
        assert path.name in result.stdout, result.stdout


def test_rule_files_are_valid():
    result = run(tool("promtool"), "check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass():
    assert RULE_TESTS
    result = run(tool("promtool"), "test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not():
    firing, quiet = set(), set()
    tested_expressions = ""
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else quiet).add(check["alertname"])
            tested_expressions += " ".join(check["expr"] for check in case.get("promql_expr_test", []))
    alerts = {rule["alert"] for rule in alerting_rules()}
    assert alerts - firing == set()
    assert alerts - quiet == set()
    assert {name for name in recording_names() if name not in tested_expressions} == set()


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the runbook's headings."""
    headings = re.findall(r"^#+ (.+)$", (OPS / "RUNBOOK.md").read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_explains_itself_and_points_to_its_runbook(rule):
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    assert rule["labels"]["urgency"] in {"page", "ticket"}
    assert annotations["runbook"] == f"ops/RUNBOOK.md#{rule['alert'].lower()}"
    assert rule["alert"].lower() in runbook_anchors()


def test_alertmanager_config_is_valid_and_routes_pages_apart():
    path = OPS / "alertmanager" / "alertmanager.yml"
    result = run(tool("amtool"), "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_yaml(path)
    receivers = {receiver["name"] for receiver in config["receivers"]}
    [page_route] = [route for route in config["route"]["routes"] if route["matchers"] == ['urgency="page"']]
    assert page_route["receiver"] in receivers
    assert config["route"]["receiver"] in receivers - {page_route["receiver"]}


# Grafana dashboards


def test_datasources_are_provisioned_with_fixed_uids():
    assert datasource_uids() == {
        "prometheus": "prometheus",
        "nootification-db": "grafana-postgresql-datasource",
        "alertmanager": "alertmanager",
    }
    providers = load_yaml(OPS / "grafana" / "provisioning" / "dashboards" / "dashboards.yml")["providers"]
    assert [provider["options"]["path"] for provider in providers] == ["/etc/grafana/dashboards"]


def test_dashboards_have_unique_uids_and_titles():
    boards = dashboards()
    assert set(boards) == {"overview", "location"}
    assert len({board["uid"] for board in boards.values()}) == len(boards)
    assert len({board["title"] for board in boards.values()}) == len(boards)


@pytest.mark.parametrize("name", [path.stem for path in DASHBOARDS])
def test_dashboard_structure(name):
    board = dashboards()[name]
    assert board["uid"] and len(board["uid"]) <= 40
    assert board["title"].startswith("nootification")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    sources = datasource_uids()
    assert len(panels(board)) >= 8
    for panel in panels(board):
        assert panel["title"] and panel["description"], panel
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"][
            "w"
        ] <= 24
        assert sources[panel["datasource"]["uid"]] == panel["datasource"]["type"], panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target.get("expr") or target.get("rawSql"), panel["title"]


def test_dashboard_panels_do_not_overlap():
    for board in dashboards().values():
        cells = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & area, panel["title"]
            cells |= area


def test_the_location_dashboard_names_no_location_in_prometheus_and_the_overview_no_sql():
    boards = dashboards()
    assert {
        target["datasource"]["type"] for panel in panels(boards["location"]) for target in panel["targets"]
    } == {"grafana-postgresql-datasource"}
    assert [variable["name"] for variable in boards["location"]["templating"]["list"]] == ["location"]
    # sqlstring: Grafana quotes the name and doubles its apostrophes, so any shop name is one SQL literal.
    queries = [sql for title, sql, _ in sql_targets() if not title.startswith("variable")]
    assert all("l.name = ${location:sqlstring}" in sql for sql in queries)
    assert not any("'$location'" in sql or "$location " in sql for sql in queries)
    assert {
        target["datasource"]["type"] for panel in panels(boards["overview"]) for target in panel["targets"]
    } == {"prometheus"}


def test_every_panel_expression_passes_promtool(tmp_path):
    expressions = [
        (f"{name}_{panel['id']}_{target['refId']}", target["expr"]) for name, panel, target in promql_panels()
    ]
    assert len(expressions) >= 20
    rules_file = tmp_path / "panels.yml"
    rules_file.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "dashboard panels",
                        "rules": [
                            {"record": f"panel:{key}", "expr": concrete(expr)} for key, expr in expressions
                        ],
                    }
                ]
            }
        )
    )
    result = run(tool("promtool"), "check", "rules", rules_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(expressions)} rules found" in result.stdout


def test_promtool_refuses_a_broken_panel_expression(tmp_path):
    rules_file = tmp_path / "broken.yml"
    rules_file.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x", "expr": "sum(rate(a[1m])"}]}]})
    )
    assert run(tool("promtool"), "check", "rules", rules_file).returncode != 0


@pytest.fixture
def exported(client, shop_with_traffic) -> set[str]:
    """Every sample name the service's /metrics shows, after an alert went through."""
    text = client.get("/metrics").get_data(as_text=True)
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


SHOP = "L'Épicerie d'Élise & Fils"


@pytest.fixture
def shop_with_traffic(client, run_worker, stub) -> str:
    """A location with staff; three alerts posted, all delivered but one refused by the provider."""
    shop = make_location(SHOP, display_name="Test shop")
    make_user(shop, level=Level.STANDARD, name="Ann")
    make_user(shop, level=Level.CRITICAL, name="Bob")
    for label in ("theft", "normal"):
        assert client.post("/webhooks/alerts", json=alert_payload(shop.name, label=label)).status_code == 201
    run_worker()
    stub.control(**fail_next(400))
    client.post("/webhooks/alerts", json=alert_payload(SHOP, label="suspicious"))
    run_worker()
    return SHOP


def test_every_metric_a_panel_or_rule_names_is_exported_by_the_service(exported):
    referenced = {name for expression in every_promql() for name in METRIC_NAME.findall(expression)}
    assert len(referenced) >= 15
    assert referenced - (exported | recording_names()) == set()


def test_every_metric_the_service_exports_is_on_a_dashboard(exported):
    on_dashboards = " ".join(target["expr"] for _, _, target in promql_panels())
    families = {re.sub(r"(_total|_bucket|_count|_sum|_created)$", "", name) for name in exported}
    ours = {family for family in families if family.startswith("nootification_")}
    assert len(ours) >= 15
    assert {family for family in ours if family not in on_dashboards} == set()


# The location dashboard's SQL, run on PostgreSQL


def grafana_sql(sql: str, *, location: str, start: datetime, end: datetime) -> str:
    """The SQL Grafana's PostgreSQL data source would send: its macros and variables replaced."""
    time_range = f"BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'"
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 {time_range}", sql)
    sql = re.sub(
        r"\$__timeGroupAlias\(([^,]+),\s*\$__interval(?:,\s*[^)]+)?\)",
        r'floor(extract(epoch FROM \1) / 60) * 60 AS "time"',
        sql,
    )
    sql = sql.replace("${location:sqlstring}", "'" + location.replace("'", "''") + "'")
    assert "$" not in sql, sql
    return sql


def test_every_location_panel_query_runs_on_postgresql(app, shop_with_traffic):
    if _db.engine.dialect.name != "postgresql":
        pytest.skip(
            "Grafana's SQL panels are PostgreSQL; set TEST_DATABASE_URL to a PostgreSQL URL to run them"
        )
    now = datetime.now(UTC)
    queries = sql_targets()
    assert len(queries) >= 10
    results = {}
    with _db.engine.connect() as connection:
        for title, sql, grafana_format in queries:
            concrete_sql = grafana_sql(
                sql, location=shop_with_traffic, start=now - timedelta(hours=1), end=now
            )
            result = connection.exec_driver_sql(concrete_sql)
            columns, rows = list(result.keys()), result.fetchall()
            assert rows, title
            if grafana_format == "time_series":
                assert columns[0] == "time", title
            results[title] = dict(zip(columns, rows[0], strict=True))
    assert results["variable location"] == {"__value": SHOP, "__text": "Test shop"}
    assert results["Alerts in range"] == {"alerts": 3}
    assert results["Staff attached"] == {"staff": 2}
    assert results["Dead letters"]["status"] == "failed"
    assert 0 < float(results["Delivered"]["sent"]) < 1
    assert 0 <= results["Since the last alert"]["since the last alert"] < 60


def test_grafana_sql_replaces_every_macro():
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    sql = grafana_sql(
        "SELECT $__timeGroupAlias(a.received_at, $__interval, 0), count(*) FROM alerts a "
        "WHERE name = ${location:sqlstring} AND $__timeFilter(a.received_at)",
        location="L'Épicerie",
        start=start,
        end=end,
    )
    assert sql == (
        'SELECT floor(extract(epoch FROM a.received_at) / 60) * 60 AS "time", count(*) FROM alerts a '
        "WHERE name = 'L''Épicerie' AND a.received_at "
        "BETWEEN '2026-01-01T00:00:00+00:00' AND '2026-01-02T00:00:00+00:00'"
    )
