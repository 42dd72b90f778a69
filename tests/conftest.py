"""The fixture chain: real redis-server, stub providers (HTTP and SMTP), app -> db -> client, worker; and
the fixtures several test modules share."""

import gc
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from werkzeug.serving import make_server

from nootification import create_app
from nootification.config import TestConfig
from nootification.delivery.engine import DeliveryEngine
from nootification.delivery.queue import delivery_queue
from nootification.delivery.queue.json_jobs import JsonScheduler
from nootification.extensions import db as _db
from nootification.extensions import redis_queue
from nootification.models import Level
from nootification.redis_server import find_redis_server, server_arguments
from nootification.services.tokens import ADMIN, create_token
from tests.helpers.config import free_port, limited_app, make_config
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.processes import drain_queue, registered_engine
from tests.helpers.push import new_vapid_key, registered_account
from tests.helpers.signatures import CURRENT, PREVIOUS
from tests.helpers.stub import SmtpStub, StartSmtpStub, StartStub, StubClient
from third_party import FailureSettings, create_stub_app, start_smtp_server


@pytest.fixture(autouse=True)
def unfreeze_after_the_test() -> Iterator[None]:
    """What a long-running command froze (garbage_collection.py) goes back to the collector after its test."""
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A real redis-server on a free loopback port for the whole session."""
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [find_redis_server(), *server_arguments(port=port, directory=directory, persist=False)],
        stdout=subprocess.DEVNULL,
    )
    client = Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def serve_app() -> Iterator[Callable[[Flask], str]]:
    """Serve WSGI apps with werkzeug's threaded server on free loopback ports; stopped at teardown."""
    servers = []

    def serve(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        # A short poll interval so shutdown() at teardown returns at once instead of after 0.5 s.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def start_stub(serve_app) -> StartStub:
    """Start real stub servers (healthy unless given settings) on free loopback ports; stopped at teardown."""

    def start(settings: FailureSettings | None = None) -> str:
        return serve_app(create_stub_app(settings or FailureSettings()))

    return start


@pytest.fixture
def stub(start_stub: StartStub) -> StubClient:
    """The provider stub (third_party.py) over real loopback HTTP, healthy at start."""
    return StubClient(start_stub())


@pytest.fixture
def start_smtp_stub(serve_app) -> Iterator[StartSmtpStub]:
    """Start healthy stubs with a real aiosmtpd server on a free port; options go to aiosmtpd (TLS, AUTH)."""
    controllers = []

    def start(**options) -> SmtpStub:
        app = create_stub_app(FailureSettings())
        url = serve_app(app)
        controller = start_smtp_server(app.extensions["stub"], port=free_port(), **options)
        controllers.append(controller)
        return SmtpStub(url, controller.port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(start_smtp_stub: StartSmtpStub) -> SmtpStub:
    """The stub's plain SMTP server (no TLS, no AUTH) and its HTTP side for the record and failures."""
    return start_smtp_stub()


@pytest.fixture
def app(tmp_path, redis_url, stub):
    """An application on a fresh database, the session's Redis and the stub provider."""
    overrides = {"REDIS_URL": redis_url, "THIRD_PARTY_URL": stub.url}
    if TestConfig.SQLALCHEMY_DATABASE_URI == "sqlite://":
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'test.db'}"
    application = create_app(make_config(**overrides))
    with application.app_context():
        Redis.from_url(redis_url).flushdb()
        yield application
        Redis.from_url(redis_url).flushdb()


@pytest.fixture
def channels_app(tmp_path, redis_url, smtp_server, monkeypatch):
    """An app whose providers are all the stub: HTTP APIs at their paths and a real SMTP server."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1111-2222-secret")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAH-secret_token_value")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-auth-secret-42")
    url = smtp_server.url
    database = TestConfig.SQLALCHEMY_DATABASE_URI
    if database == "sqlite://":
        database = f"sqlite:///{tmp_path / 'channels.db'}"
    config = make_config(
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis_url,
        THIRD_PARTY_URL=url,
        SLACK_API_URL=f"{url}/slack/api",
        TELEGRAM_API_URL=f"{url}/telegram",
        TWILIO_API_URL=f"{url}/twilio",
        FCM_API_URL=f"{url}/fcm",
        TWILIO_FROM_NUMBER="+15005550006",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server.port,
        SMTP_SECURITY="none",
        # The stub serves the whole suite: on a loaded machine it may answer a call after a second, which the
        # tests' short timeout would count as a failure and retry, placing a call twice.
        HTTP_READ_TIMEOUT=5.0,
    )
    app = create_app(config)
    with app.app_context():
        redis_queue.connection.flushdb()
        _db.create_all()
        yield app
        _db.session.remove()
        _db.drop_all()


@pytest.fixture
def redis_down(app, db):
    """Point the application at a loopback port where no Redis listens, as if Redis had crashed."""
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    app.config["REDIS_URL"] = dead_url
    redis_queue.init_app(app)
    return dead_url


@pytest.fixture
def db(app):
    """The application's database with every table created, dropped afterwards."""
    _db.create_all()
    yield _db
    _db.session.remove()
    _db.drop_all()


@pytest.fixture
def admin_token(db) -> str:
    """A bearer token with the admin scope."""
    return create_token(name="tests", scopes=[ADMIN]).token


@pytest.fixture
def client(app, admin_token):
    """A test client for the API, authenticated as admin."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token}"
    return client


@pytest.fixture
def anonymous(app, db):
    """A test client without credentials."""
    return app.test_client()


@pytest.fixture
def run_worker(app, db) -> Callable[[], int]:
    """Run every queued job through the engine, as `flask worker --burst` would; how many were queued."""
    return drain_queue


@pytest.fixture
def live_worker(app, db) -> Iterator[DeliveryEngine]:
    """An engine registered on the delivery queue, as `flask worker` registers itself at start."""
    with registered_engine(app) as engine:
        yield engine


@pytest.fixture
def live_scheduler(app, db) -> Iterator[JsonScheduler]:
    """An rq-scheduler registered with its heartbeat key, as `flask scheduler` registers itself at start."""
    scheduler = JsonScheduler(queue=delivery_queue(), connection=redis_queue.connection, interval=1)
    scheduler.register_birth()
    yield scheduler
    scheduler.register_death()


@pytest.fixture
def queued_delivery(client) -> str:
    """One alert posted for a shop with one STANDARD user: one queued delivery; returns the alert uuid."""
    make_user(make_location(), level=Level.STANDARD)
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).json["delivery_count"] == 1
    return payload["alert_uuid"]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command, and its key."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def admin(channels_app):
    """A test client for the channels app, authenticated as admin."""
    client = admin_client(channels_app)
    return client


@pytest.fixture
def push_services(smtp_server, monkeypatch) -> str:
    """Web Push and FCM configured against the stub; the VAPID public key."""
    private, public = new_vapid_key()
    monkeypatch.setenv("WEBPUSH_VAPID_PRIVATE_KEY", private)
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(registered_account(smtp_server.url)))
    return public


@pytest.fixture
def signed_app(app, db):
    """The app taking only alerts signed with the current or the previous secret, and one shop's user."""
    app.config["ALERT_WEBHOOK_SECRETS"] = (CURRENT, PREVIOUS)
    make_user(make_location(), level=Level.STANDARD)
    return app


@pytest.fixture
def limited(app, db):
    """A limited app with small limits on preferences and elsewhere."""
    limited = limited_app(app, RATELIMIT_PREFERENCES="2 per 2 second", RATELIMIT_DEFAULT="3 per 30 second")
    with limited.app_context():
        yield limited.test_client()


@pytest.fixture
def strict(app):
    """Webhook addresses on loopback, link-local or private networks refused."""
    app.config["ALLOW_PRIVATE_WEBHOOK_TARGETS"] = False


@pytest.fixture
def vapid(monkeypatch) -> str:
    """Web Push configured with a fresh VAPID key as the server's secret; its public key."""
    private, public = new_vapid_key()
    monkeypatch.setenv("WEBPUSH_VAPID_PRIVATE_KEY", private)
    return public
