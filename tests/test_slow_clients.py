"""Clients that send their bodies a byte at a time hold up no alert: not on the quick start's server
(waitress), not on gunicorn behind compose's nginx. Real processes on loopback, 50 slow sockets each."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from nootification.models import Level
from tests.helpers.config import free_port
from tests.helpers.factories import alert_payload, make_location, make_user

ROOT = Path(__file__).resolve().parent.parent
SLOW_SOCKETS = 50
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def process_env(app) -> dict[str, str]:
    """The environment of a process on the app's database and Redis."""
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "RQ_QUEUE_NAME": app.config["RQ_QUEUE_NAME"],
        "RATELIMIT_ENABLED": "false",
    }


def wait_for_health(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the server did not answer /health"
        time.sleep(0.1)


@pytest.fixture
def slow_sockets() -> Iterator[callable]:
    """Opens sockets that each declare a 1,000-byte alert body and send one byte of it; closes them after."""
    opened: list[socket.socket] = []

    def open_slow(port: int) -> list[socket.socket]:
        for _ in range(SLOW_SOCKETS):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(
                b"POST /webhooks/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
            opened.append(connection)
        return opened

    yield open_slow
    for connection in opened:
        connection.close()


def unanswered(connection: socket.socket) -> bool:
    """Whether the server has neither answered nor closed this connection yet."""
    connection.setblocking(False)
    try:
        connection.recv(1)
    except BlockingIOError:
        return True
    return False


def post_alert_past(port: int, token: str, slow: list[socket.socket]) -> None:
    """A normal alert is answered 201 while every slow body is still coming in."""
    response = requests.post(
        f"http://127.0.0.1:{port}/webhooks/alerts",
        json=alert_payload(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert all(unanswered(connection) for connection in slow)


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


@pytest.fixture
def shop(db) -> None:
    make_user(make_location(), level=Level.STANDARD)


def test_the_quick_start_server_answers_an_alert_while_fifty_bodies_trickle_in(
    app, shop, admin_token, slow_sockets
):
    port = free_port()
    # Two threads only: were each slow body read by a thread, the alert would wait behind them.
    command = [sys.executable, "-m", "flask", "--app", "nootification", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--threads", "2"], cwd=ROOT, env=process_env(app), stderr=subprocess.PIPE
    )
    try:
        wait_for_health(port, server)
        post_alert_past(port, admin_token, slow_sockets(port))
    finally:
        code = stop(server)
    assert code == 0


@pytest.fixture
def nginx_conf(tmp_path) -> callable:
    """ops/nginx/nginx.conf with its upstream and listening port moved to loopback ports of the test."""

    def written(listen: int, upstream: int) -> Path:
        text = (ROOT / "ops" / "nginx" / "nginx.conf").read_text()
        assert "server api:8000;" in text and "listen 8000;" in text
        text = text.replace("server api:8000;", f"server 127.0.0.1:{upstream};")
        text = text.replace("listen 8000;", f"listen 127.0.0.1:{listen};")
        path = tmp_path / "nginx.conf"
        path.write_text(text)
        return path

    return written


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_gunicorn_behind_composes_nginx_answers_an_alert_while_fifty_bodies_trickle_in(
    app, shop, admin_token, slow_sockets, nginx_conf, tmp_path
):
    api_port, proxy_port = free_port(), free_port()
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{api_port}", "--threads", "2", "wsgi:app"],
        cwd=ROOT,
        env={**process_env(app), "PROXY_HOPS": "1"},
        stderr=subprocess.PIPE,
    )
    settings = f"daemon off; pid {tmp_path / 'nginx.pid'};"
    nginx = subprocess.Popen(
        [NGINX, "-c", str(nginx_conf(proxy_port, api_port)), "-p", str(tmp_path), "-g", settings],
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_health(api_port, gunicorn)
        wait_for_health(proxy_port, nginx)
        post_alert_past(proxy_port, admin_token, slow_sockets(proxy_port))
    finally:
        stop(nginx)
        stop(gunicorn)
