"""`/health` answers while the process lives; `/ready` names each component the service needs to deliver."""

import os
import signal
import subprocess
import sys

from nootification import create_app
from nootification.extensions import redis_queue
from tests.helpers.config import free_port, make_config
from tests.helpers.processes import ROOT, wait_until, worker_process

ALL_OK = {"status": "ok"}


def scheduler_process(app) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "RQ_QUEUE_NAME": app.config["RQ_QUEUE_NAME"],
    }
    command = [sys.executable, "-m", "flask", "--app", "nootification", "scheduler"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_health_is_liveness_and_touches_no_dependency(anonymous, redis_down):
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_health_answers_without_a_database(redis_url):
    unreachable = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=unreachable, REDIS_URL=redis_url))
    assert app.test_client().get("/health").json == {"status": "ok"}


def test_ready_with_database_redis_a_worker_and_the_scheduler(anonymous, live_worker, live_scheduler):
    response = anonymous.get("/ready")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    components = response.json["components"]
    assert components["database"] == ALL_OK
    assert components["redis"] == ALL_OK
    assert components["workers"]["status"] == "ok"
    assert components["workers"]["detail"].startswith("1 alive, oldest heartbeat ")
    assert components["scheduler"] == {"status": "ok", "detail": "1 alive"}


def test_503_names_the_workers_when_none_is_registered(anonymous, live_scheduler):
    response = anonymous.get("/ready")
    assert response.status_code == 503
    assert response.json["status"] == "failing"
    assert response.json["components"]["workers"] == {
        "status": "failing",
        "error": "no live RQ worker on the notifications queue",
    }
    assert response.json["components"]["scheduler"]["status"] == "ok"


def test_a_worker_whose_heartbeat_stopped_is_not_alive(anonymous, live_worker, live_scheduler):
    assert anonymous.get("/ready").status_code == 200
    # Each heartbeat renews the registration's TTL; without them it expires, as here.
    redis_queue.connection.pexpire(live_worker.key, 1)
    wait_until(lambda: not redis_queue.connection.exists(live_worker.key), timeout=2)
    response = anonymous.get("/ready")
    assert response.status_code == 503
    assert response.json["components"]["workers"]["status"] == "failing"


def test_503_names_the_scheduler_when_it_died(anonymous, live_worker, live_scheduler):
    live_scheduler.register_death()
    response = anonymous.get("/ready")
    assert response.status_code == 503
    assert response.json["components"]["scheduler"] == {"status": "failing", "error": "no live rq-scheduler"}
    assert response.json["components"]["workers"]["status"] == "ok"


def test_503_names_redis_and_what_is_read_through_it(anonymous, redis_down):
    response = anonymous.get("/ready")
    assert response.status_code == 503
    components = response.json["components"]
    assert components["database"] == ALL_OK
    assert components["redis"] == {"status": "failing", "error": "ConnectionError"}
    assert components["workers"] == {"status": "failing", "error": "redis is failing"}
    assert components["scheduler"] == {"status": "failing", "error": "redis is failing"}


def test_503_names_the_database_when_it_is_down(redis_url):
    unreachable = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=unreachable, REDIS_URL=redis_url))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.json["components"]["database"]["status"] == "failing"
    assert response.json["components"]["redis"] == ALL_OK


def test_ready_follows_real_worker_and_scheduler_processes(app, anonymous):
    def components() -> dict:
        return anonymous.get("/ready").json["components"]

    worker, scheduler = worker_process(app), scheduler_process(app)
    try:
        wait_until(lambda: anonymous.get("/ready").status_code == 200, timeout=30)
        worker.send_signal(signal.SIGTERM)  # an idle worker stops at once and says so in Redis
        worker.wait(timeout=15)
        assert components()["workers"]["status"] == "failing"
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=15)
        assert components()["scheduler"]["status"] == "failing"
    finally:
        for process in (worker, scheduler):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def test_both_are_public_and_documented(anonymous):
    spec = anonymous.get("/openapi.json").json
    for path in ("/health", "/ready"):
        assert spec["paths"][path]["get"]["security"] == [], path
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]
