"""Metrics: real alerts through the real pipeline move the counters; /metrics reads Redis and the DB."""

import importlib.util
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from nootification.delivery.circuit import CircuitBreaker
from nootification.delivery.queue import delivery_queue
from nootification.delivery.queue.json_jobs import JsonScheduler
from nootification.delivery.sweeper import sweep
from nootification.extensions import db, redis_queue
from nootification.models import Alert, Delivery, DeliveryKind, DeliveryStatus, Level, Severity, utcnow
from nootification.monitoring.metrics import StateCollector
from nootification.observability.metrics import record_alert, render_metrics
from nootification.observability.metrics_server import start_metrics_server
from nootification.periodic import schedule_sweeper
from tests.helpers.config import free_port
from tests.helpers.factories import alert_payload, fail_next, make_location, make_user, stored_delivery
from tests.helpers.metrics import Samples, delta, parse, scrape, value
from tests.helpers.processes import ROOT, engine_for, wait_until, worker_process


@pytest.fixture
def shop(client):
    shop = make_location()
    make_user(shop, level=Level.STANDARD)
    return shop


def test_a_delivered_alert_moves_the_alert_attempt_delivery_and_latency_metrics(client, shop, run_worker):
    before = scrape(client)
    payload = alert_payload(label="theft", time_spotted=time.time() - 7)
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    run_worker()
    after = scrape(client)

    critical = {"severity": "critical"}
    assert (
        delta(
            before, after, "nootification_alerts_received_total", label="theft", outcome="created", **critical
        )
        == 1
    )
    assert delta(before, after, "nootification_delivery_attempts_total", channel="push", outcome="sent") == 1
    assert (
        delta(before, after, "nootification_deliveries_total", channel="push", outcome="sent", **critical)
        == 1
    )
    for source in ("receipt", "spotted"):
        name = f"nootification_delivery_latency_from_{source}_seconds"
        assert delta(before, after, f"{name}_count", channel="push", **critical) == 1
    spotted = delta(
        before, after, "nootification_delivery_latency_from_spotted_seconds_sum", channel="push", **critical
    )
    receipt = delta(
        before, after, "nootification_delivery_latency_from_receipt_seconds_sum", channel="push", **critical
    )
    assert 7 <= spotted < 60
    assert 0 <= receipt < spotted
    assert (
        delta(
            before,
            after,
            "nootification_http_request_duration_seconds_count",
            method="POST",
            endpoint="/webhooks/alerts",
            status="201",
        )
        == 1
    )


def test_a_repeated_alert_counts_as_duplicate_and_a_contradicting_one_as_conflict(client, shop):
    payload = alert_payload(label="suspicious")
    client.post("/webhooks/alerts", json=payload)
    before = scrape(client)
    assert client.post("/webhooks/alerts", json=payload).status_code == 200
    assert (
        client.post(
            "/webhooks/alerts", json={**payload, "url": "https://media.example.com/x.mp4"}
        ).status_code
        == 409
    )
    after = scrape(client)

    labels = {"label": "suspicious", "severity": "standard"}
    assert delta(before, after, "nootification_alerts_received_total", outcome="created", **labels) == 0
    assert delta(before, after, "nootification_alerts_received_total", outcome="duplicate", **labels) == 1
    assert delta(before, after, "nootification_alerts_received_total", outcome="conflict", **labels) == 1


def test_transient_failures_count_attempts_and_a_backoff_then_a_refusal_fails(client, shop, stub, run_worker):
    before = scrape(client)
    stub.control(**fail_next(500, times=3))
    client.post("/webhooks/alerts", json=alert_payload())
    run_worker()
    middle = scrape(client)
    assert (
        delta(before, middle, "nootification_delivery_attempts_total", channel="push", outcome="transient")
        == 3
    )
    assert (
        delta(before, middle, "nootification_delivery_reschedules_total", channel="push", reason="backoff")
        == 1
    )
    assert (
        delta(
            before,
            middle,
            "nootification_deliveries_total",
            channel="push",
            severity="critical",
            outcome="sent",
        )
        == 0
    )

    stub.control(**fail_next(400))
    client.post("/webhooks/alerts", json=alert_payload())
    run_worker()
    after = scrape(client)
    assert (
        delta(middle, after, "nootification_delivery_attempts_total", channel="push", outcome="permanent")
        == 1
    )
    assert (
        delta(
            middle,
            after,
            "nootification_deliveries_total",
            channel="push",
            severity="critical",
            outcome="failed",
        )
        == 1
    )
    assert value(after, "nootification_dead_letters", channel="push") == 1
    assert value(after, "nootification_dead_letters", channel="slack") == 0


def test_an_open_circuit_counts_as_a_circuit_reschedule(app, client, shop, stub, run_worker):
    app.config.update(BREAKER_FAILURE_THRESHOLD=1, BREAKER_COOLDOWN=60)
    stub.control(**fail_next(500))
    before = scrape(client)
    client.post("/webhooks/alerts", json=alert_payload())
    run_worker()
    after = scrape(client)
    # The first attempt fails and opens the breaker; the quick retry finds it open and defers.
    assert (
        delta(before, after, "nootification_delivery_attempts_total", channel="push", outcome="transient")
        == 1
    )
    assert (
        delta(
            before, after, "nootification_delivery_reschedules_total", channel="push", reason="circuit_open"
        )
        == 1
    )
    assert value(after, "nootification_circuit_breakers_open", channel="push") == 1


def test_sweeper_requeues_and_expiries_are_counted(client, shop):
    client.post("/webhooks/alerts", json=alert_payload())
    before = scrape(client)
    redis_queue.connection.flushdb()
    sweep(now=utcnow() + timedelta(seconds=30))
    middle = scrape(client)
    assert delta(before, middle, "nootification_sweeper_requeued_total", reason="lost_job") == 1
    assert delta(before, middle, "nootification_sweeper_requeued_total", reason="unqueued") == 0

    sweep(now=utcnow() + timedelta(hours=2))
    after = scrape(client)
    assert stored_delivery().status is DeliveryStatus.EXPIRED
    assert (
        delta(
            middle,
            after,
            "nootification_deliveries_total",
            channel="push",
            severity="critical",
            outcome="expired",
        )
        == 1
    )
    assert (
        delta(
            middle,
            after,
            "nootification_delivery_latency_from_receipt_seconds_count",
            channel="push",
            severity="critical",
        )
        == 0
    )


def test_webhook_refusals_are_counted_by_reason_and_unknown_paths_as_unmatched(client):
    before = scrape(client)
    client.post("/webhooks/alerts", data="{not json", content_type="application/json")
    client.post("/webhooks/alerts", data="plain text", content_type="text/plain")
    client.post("/webhooks/alerts", json=alert_payload(label="fire"))
    client.post("/webhooks/alerts", json=alert_payload(location="nowhere"))
    client.get("/no/such/path")
    after = scrape(client)
    for reason, count in {"malformed_json": 1, "not_json": 1, "invalid": 2, "too_large": 0}.items():
        assert delta(before, after, "nootification_webhook_rejected_total", reason=reason) == count, reason
    assert (
        delta(
            before,
            after,
            "nootification_http_request_duration_seconds_count",
            method="GET",
            endpoint="unmatched",
            status="404",
        )
        == 1
    )


def test_labels_outside_the_configuration_are_counted_as_other(app):
    samples = parse(render_metrics()[0].decode())
    record_alert("arson", Severity.STANDARD, "created")
    after = parse(render_metrics()[0].decode())
    labels = {"severity": "standard", "outcome": "created"}
    assert delta(samples, after, "nootification_alerts_received_total", label="other", **labels) == 1
    assert (
        "nootification_alerts_received_total",
        frozenset({"label": "arson", **labels}.items()),
    ) not in after


def test_metrics_endpoint_is_not_in_the_openapi_document(client):
    assert "/metrics" not in client.get("/openapi.json").json["paths"]
    assert "/webhooks/alerts" in client.get("/openapi.json").json["paths"]


def collect(app, now: float | None = None) -> Samples:
    collector = StateCollector(
        connection=redis_queue.connection, session=db.session, config=app.config, now=now
    )
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def test_queue_depth_and_oldest_job_age_come_from_the_queue(app, client, shop):
    empty = collect(app)
    assert value(empty, "nootification_queue_jobs", state="queued") == 0
    assert value(empty, "nootification_queue_oldest_job_age_seconds") == 0
    for _ in range(2):
        client.post("/webhooks/alerts", json=alert_payload())
    state = collect(app, now=time.time() + 30)
    assert value(state, "nootification_queue_jobs", state="queued") == 2
    assert 29 <= value(state, "nootification_queue_oldest_job_age_seconds") <= 35
    assert value(state, "nootification_state_source_up", source="redis") == 1


def test_scheduled_jobs_are_the_periodic_ones_not_the_retries(app, client, shop, stub, run_worker):
    assert value(collect(app), "nootification_queue_jobs", state="scheduled") == 0
    stub.control(**fail_next(500, times=3))
    client.post("/webhooks/alerts", json=alert_payload())
    run_worker()  # a retry is a scheduled row, not an rq-scheduler job
    assert value(collect(app), "nootification_queue_jobs", state="scheduled") == 0
    schedule_sweeper(60)
    assert value(collect(app), "nootification_queue_jobs", state="scheduled") == 1


def test_workers_and_schedulers_alive_follow_their_registrations(app, db):
    assert value(collect(app), "nootification_workers_alive") == 0
    worker = engine_for(app)
    worker.register_birth()
    scheduler = JsonScheduler(queue=delivery_queue(), connection=redis_queue.connection, interval=5)
    scheduler.register_birth()
    state = collect(app, now=time.time() + 20)
    assert value(state, "nootification_workers_alive") == 1
    assert 19 <= value(state, "nootification_worker_oldest_heartbeat_age_seconds") <= 25
    assert value(state, "nootification_schedulers_alive") == 1

    worker.register_death()
    scheduler.register_death()
    state = collect(app)
    assert value(state, "nootification_workers_alive") == 0
    assert value(state, "nootification_schedulers_alive") == 0


def test_open_breakers_are_counted_per_channel_without_their_host(app, db):
    def breaker(name: str) -> CircuitBreaker:
        return CircuitBreaker(redis_queue.connection, name, threshold=1, cooldown=60)

    for name in (
        "push:127.0.0.1:5000",
        "push:provider.invalid",
        "slack:hooks.invalid",
        "carrier-pigeon:loft",
    ):
        breaker(name).record_failure()
    breaker("telegram:api.invalid").record_failure()
    state = collect(app)
    assert value(state, "nootification_circuit_breakers_open", channel="push") == 2
    assert value(state, "nootification_circuit_breakers_open", channel="slack") == 1
    assert value(state, "nootification_circuit_breakers_open", channel="other") == 1
    assert value(state, "nootification_circuit_breakers_open", channel="telegram") == 1
    assert value(state, "nootification_circuit_breakers_open", channel="email") == 0
    # The cooldown is over: the breaker waits for its probe and no longer counts as open.
    assert (
        value(collect(app, now=time.time() + 61), "nootification_circuit_breakers_open", channel="push") == 0
    )
    assert all("invalid" not in str(labels) for _, labels in state)


def make_delivery(
    alert: Alert,
    status: DeliveryStatus,
    *,
    created_ago: timedelta,
    channel: str = "push",
    kind: DeliveryKind = DeliveryKind.ALERT,
) -> None:
    user = None if kind is DeliveryKind.VENDOR_EVENT else make_user(alert.location)
    db.session.add(
        Delivery(
            alert=alert,
            user=user,
            channel=channel,
            kind=kind,
            status=status,
            created_at=utcnow() - created_ago,
        )
    )
    db.session.commit()


def make_alert(location, *, received_ago: timedelta) -> Alert:
    received_at = utcnow() - received_ago
    alert = Alert(
        alert_uuid=str(uuid.uuid4()),
        url="https://media.example.com/a.mp4",
        location=location,
        label="theft",
        severity=Severity.CRITICAL,
        time_spotted=received_at,
        received_at=received_at,
    )
    db.session.add(alert)
    db.session.commit()
    return alert


def test_dead_letters_are_failed_or_expired_deliveries_of_the_last_day(app, db):
    alert = make_alert(make_location(), received_ago=timedelta(hours=1))
    make_delivery(alert, DeliveryStatus.FAILED, created_ago=timedelta(hours=1))
    make_delivery(alert, DeliveryStatus.EXPIRED, created_ago=timedelta(hours=2))
    make_delivery(alert, DeliveryStatus.EXPIRED, created_ago=timedelta(hours=3), channel="sms")
    make_delivery(alert, DeliveryStatus.FAILED, created_ago=timedelta(hours=25))
    make_delivery(alert, DeliveryStatus.SENT, created_ago=timedelta(hours=1))
    make_delivery(alert, DeliveryStatus.SCHEDULED, created_ago=timedelta(hours=1))
    state = collect(app)
    assert value(state, "nootification_dead_letters", channel="push") == 2
    assert value(state, "nootification_dead_letters", channel="sms") == 1
    assert value(state, "nootification_dead_letters", channel="email") == 0
    assert value(state, "nootification_state_source_up", source="database") == 1


def test_dead_letters_count_vendor_events_and_notices_too(app, db):
    alert = make_alert(make_location(), received_ago=timedelta(hours=1))
    make_delivery(
        alert,
        DeliveryStatus.FAILED,
        created_ago=timedelta(hours=1),
        channel="vendor",
        kind=DeliveryKind.VENDOR_EVENT,
    )
    make_delivery(
        alert,
        DeliveryStatus.EXPIRED,
        created_ago=timedelta(hours=1),
        channel="sms",
        kind=DeliveryKind.CLAIM_NOTICE,
    )
    state = collect(app)
    assert value(state, "nootification_dead_letters", channel="vendor") == 1
    assert value(state, "nootification_dead_letters", channel="sms") == 1


def test_a_busy_location_without_alerts_for_hours_counts_as_silent(app, db):
    app.config.update(SILENT_LOCATION_MIN_ALERTS=3, SILENT_LOCATION_HOURS=12)
    quiet, lively, rare = make_location("quiet"), make_location("lively"), make_location("rare")
    for hours in (20, 30, 40):
        make_alert(quiet, received_ago=timedelta(hours=hours))
    for hours in (1, 30, 40):
        make_alert(lively, received_ago=timedelta(hours=hours))
    make_alert(rare, received_ago=timedelta(hours=20))
    make_alert(rare, received_ago=timedelta(days=8))
    make_alert(rare, received_ago=timedelta(days=9))
    assert value(collect(app), "nootification_locations_silent") == 1
    app.config.update(SILENT_LOCATION_HOURS=24)
    assert value(collect(app), "nootification_locations_silent") == 0


def test_metrics_still_answer_when_redis_is_down(client, redis_down):
    samples = scrape(client)
    assert value(samples, "nootification_state_source_up", source="redis") == 0
    assert value(samples, "nootification_state_source_up", source="database") == 1
    assert ("nootification_workers_alive", frozenset()) not in samples
    assert ("nootification_locations_silent", frozenset()) in samples


@pytest.fixture
def multiproc_dir(tmp_path) -> Path:
    """A directory of its own: the collector reads every *.db file in it, the test database is one."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    return directory


def test_worker_processes_counters_are_added_up_from_the_multiprocess_directory(
    app, client, shop, multiproc_dir, monkeypatch
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
    for _ in range(2):
        client.post("/webhooks/alerts", json=alert_payload())
        worker = worker_process(app, "--burst")
        _, errors = worker.communicate(timeout=60)
        assert worker.returncode == 0, errors.decode()[-2000:]
    assert len(list(multiproc_dir.glob("counter_*.db"))) >= 2

    app.config["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    samples = scrape(client)
    sent = {"channel": "push", "severity": "critical", "outcome": "sent"}
    assert value(samples, "nootification_deliveries_total", **sent) == 2
    assert (
        value(
            samples,
            "nootification_delivery_latency_from_receipt_seconds_count",
            channel="push",
            severity="critical",
        )
        == 2
    )
    assert value(samples, "nootification_queue_jobs", state="queued") == 0


def test_gunicorn_workers_requests_are_all_counted_on_metrics(app, db, multiproc_dir):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "3", "wsgi:app"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/health"), timeout=30)
        with requests.Session() as session:
            for _ in range(30):
                assert session.get(f"{url}/health", headers={"Connection": "close"}, timeout=5).ok
        samples = parse(requests.get(f"{url}/metrics", timeout=5).text)
    finally:
        server.terminate()
        server.wait(timeout=20)
    health = {"method": "GET", "endpoint": "/health", "status": "200"}
    # 30 requests plus the ones that waited for start-up, spread over three processes, all counted.
    assert value(samples, "nootification_http_request_duration_seconds_count", **health) >= 31
    assert len({path.name.split("_")[-1] for path in multiproc_dir.glob("histogram_*.db")}) >= 2


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def test_gunicorn_child_exit_forgets_the_dead_workers_live_gauges(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_livesum_4343.db", "counter_4242.db"):
        (tmp_path / name).write_bytes(b"")
    conf.child_exit(None, SimpleNamespace(pid=4242))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db", "gauge_livesum_4343.db"]


def test_a_worker_can_serve_its_own_metrics_on_a_port(app, client, shop, run_worker):
    app.config.update(METRICS_PORT=0)
    assert start_metrics_server(app.config) is None
    app.config.update(METRICS_PORT=free_port(), METRICS_ADDR="127.0.0.1")
    server = start_metrics_server(app.config)
    try:
        url = f"http://127.0.0.1:{app.config['METRICS_PORT']}/metrics"
        before = parse(requests.get(url, timeout=5).text)
        client.post("/webhooks/alerts", json=alert_payload())
        run_worker()
        after = parse(requests.get(url, timeout=5).text)
    finally:
        server.shutdown()
        server.server_close()
    sent = {"channel": "push", "severity": "critical", "outcome": "sent"}
    assert delta(before, after, "nootification_deliveries_total", **sent) == 1
    # The state gauges are the API's to report, once per scrape, not every worker's.
    assert ("nootification_queue_jobs", frozenset({"state": "queued"}.items())) not in after


def test_a_scrape_scans_a_large_keyspace_in_a_few_round_trips(app, client):
    connection = redis_queue.connection
    with connection.pipeline(transaction=False) as pipeline:
        for number in range(5000):
            pipeline.set(f"nootification:filler:{number}", 1)
        pipeline.execute()
    connection.config_resetstat()

    assert client.get("/metrics").status_code == 200

    scans = connection.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
    assert 0 < scans <= 20
