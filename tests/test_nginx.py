"""Compose's nginx (ops/nginx/nginx.conf), run for real: its access log never shows a staff link's token."""

import shutil
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from flask import Flask

from nootification.services.staff_links import link_token
from tests.helpers.config import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_the_access_log_masks_link_tokens_in_paths_and_referers(serve_app, tmp_path):
    upstream = Flask("api")
    upstream.add_url_rule("/<path:anything>", "any", lambda anything: "ok")
    api = serve_app(upstream).rsplit(":", 1)[1]
    port, log = free_port(), tmp_path / "access.log"
    text = (ROOT / "ops" / "nginx" / "nginx.conf").read_text()
    assert "server api:8000;" in text and "listen 8000;" in text and "access_log /dev/stdout" in text
    text = text.replace("server api:8000;", f"server 127.0.0.1:{api};")
    text = text.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    (tmp_path / "nginx.conf").write_text(text.replace("access_log /dev/stdout", f"access_log {log}"))
    settings = f"daemon off; pid {tmp_path / 'nginx.pid'};"
    nginx = subprocess.Popen(
        [NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path), "-g", settings],
        stderr=subprocess.PIPE,
    )
    token = link_token(str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC), "test-only-secret-key")
    try:
        deadline = time.monotonic() + 10
        while True:
            assert nginx.poll() is None, nginx.stderr.read().decode()
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/s/{token}", timeout=5).text == "ok"
        page = f"https://shop.example/s/{token}?notice=claimed"
        assert requests.get(f"{base}/s/{token}/state", headers={"Referer": page}, timeout=5).ok
        assert requests.post(f"{base}/s/{token}/claim?again=1", timeout=5).status_code in (200, 405)
    finally:
        nginx.send_signal(signal.SIGQUIT)  # graceful: the log is written and closed
        nginx.wait(timeout=10)
    logged = log.read_text()
    assert token not in logged
    assert '"GET /s/[link] HTTP/1.1" 200' in logged
    assert '"GET /s/[link]/state HTTP/1.1" 200' in logged
    assert '"https://shop.example/s/[link]?notice=claimed"' in logged
    assert "/s/[link]/claim?again=1" in logged
    assert '"GET /health HTTP/1.1"' in logged  # other paths as they came
