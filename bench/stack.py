"""Start the service's processes on loopback (or another local address), each on a free port, and stop, kill
or restart any of them."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from redis.exceptions import RedisError

import third_party
from nootification.redis_connection import connect
from nootification.redis_server import find_redis_server, server_arguments

ROOT = Path(__file__).resolve().parent.parent
# Enough threads that the stub answers 256 requests at once however long it is told to wait before answering.
STUB_THREADS = 256
STUB_CONNECTIONS = 1000  # gunicorn's default: open connections, idle keep-alive ones included
# Dummy secrets only the stub accepts, as in the quick start (Makefile): they never reach a real provider.
STUB_SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-stub-only",
    "TELEGRAM_BOT_TOKEN": "1000000:stub-only",
    "TWILIO_ACCOUNT_SID": "ACstubonly",
    "TWILIO_AUTH_TOKEN": "stub-only",
    "WEBHOOK_SIGNING_SECRET": "whsec_c3R1Yi1vbmx5LXdlYmhvb2stc2VjcmV0",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stub_app():
    """The stub provider with its SMTP server on STUB_SMTP_HOST:STUB_SMTP_PORT (kept as extensions["smtp"]),
    as `python third_party.py` runs it."""
    app = third_party.create_stub_app()
    host, port = os.environ.get("STUB_SMTP_HOST", "127.0.0.1"), int(os.environ["STUB_SMTP_PORT"])
    app.extensions["smtp"] = third_party.start_smtp_server(app.extensions["stub"], host=host, port=port)
    return app


def wait_for(check, what: str, timeout: float = 30.0) -> None:
    """Poll `check` until it returns true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (requests.RequestException, OSError, RedisError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.1)


class Stack:
    """Redis, the API under gunicorn, K workers, the scheduler and the stub provider, on 127.0.0.1 or `host`
    (an address of this machine: bench.hosts's bridge, which workers in network namespaces reach)."""

    def __init__(
        self,
        *,
        workers: int = 2,
        api_workers: int = 2,
        api_threads: int = 4,
        settings: dict[str, str] | None = None,
        stub_env: dict[str, str] | None = None,
        stub_threads: int = STUB_THREADS,
        count_sql: bool = False,
        directory: Path | None = None,
        host: str = "127.0.0.1",
        redis_url: str | None = None,
    ):
        self.directory = directory or Path(tempfile.mkdtemp(prefix="nootification-stack-"))
        self.host = host
        self.redis_port, self.api_port, self.stub_port = free_port(host), free_port(host), free_port(host)
        # Given a URL (a Sentinel's, say), the stack uses that Redis and starts none of its own.
        self.own_redis = redis_url is None
        self.redis_url = redis_url or f"redis://{host}:{self.redis_port}/0"
        self.smtp_port = free_port(host)
        self.api_url = f"http://{host}:{self.api_port}"
        self.stub_url = f"http://{host}:{self.stub_port}"
        self.worker_count = workers
        self.api_workers = api_workers
        self.api_threads = api_threads
        self.stub_threads = stub_threads
        self.metrics_directory = self.directory / "metrics"
        self.metrics_directory.mkdir(exist_ok=True)
        # The API, the workers and the scheduler each keep their SQL statement count here (bench.sql_count).
        self.sql_directory = self.directory / "sql" if count_sql else None
        if self.sql_directory:
            self.sql_directory.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "FLASK_APP": "nootification",
            "DATABASE_URL": f"sqlite:///{self.directory / 'nootification.db'}",
            # The API, the workers and their restarts share one directory, so /metrics counts them all.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_directory),
            "REDIS_URL": self.redis_url,
            "THIRD_PARTY_URL": self.stub_url,
            # Every channel's provider is the stub: its HTTP paths, and its SMTP server for email.
            "SLACK_API_URL": f"{self.stub_url}/slack/api",
            "TELEGRAM_API_URL": f"{self.stub_url}/telegram",
            "TWILIO_API_URL": f"{self.stub_url}/twilio",
            "TWILIO_FROM_NUMBER": "+15005550006",
            "SMTP_HOST": host,
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_SECURITY": "none",
            **STUB_SECRETS,
            # The stub's webhook and Teams endpoints are plain http on loopback.
            "ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
            "LOG_LEVEL": "WARNING",
            # Loads far past any one client's fair share: the limiter still runs, but never refuses.
            "RATELIMIT_DEFAULT": "10000000 per minute",
            "RATELIMIT_ALERTS": "10000000 per minute",
            **(settings or {}),
        }
        self.stub_env = {
            **self.env,
            # The stub checks the generic webhooks' signatures with the secret the service signs them with.
            "STUB_WEBHOOK_SECRET": STUB_SECRETS["WEBHOOK_SIGNING_SECRET"],
            "STUB_SMTP_HOST": host,
            "STUB_SMTP_PORT": str(self.smtp_port),
            **(stub_env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.admin_token = ""

    def _spawn(self, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 (the process owns it)
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def _python(self, name: str, module: str, *arguments: str) -> list[str]:
        """`python -m module arguments`, through bench.sql_count when the stack counts SQL statements."""
        if self.sql_directory is None:
            return [sys.executable, "-m", module, *arguments]
        return [sys.executable, "-m", "bench.sql_count", str(self.sql_directory), name, module, *arguments]

    def start_redis(self) -> None:
        """Start redis-server with append-only persistence in the stack's directory."""
        arguments = server_arguments(
            port=self.redis_port, directory=self.directory, persist=True, bind=self.host
        )
        self._spawn("redis", [find_redis_server(), *arguments])
        wait_for(lambda: connect(self.redis_url).ping(), "redis")

    def start_api(self) -> None:
        """Start gunicorn serving the API."""
        self._spawn(
            "api",
            self._python(
                "api",
                "gunicorn",
                "--bind",
                f"{self.host}:{self.api_port}",
                "--workers",
                str(self.api_workers),
                "--threads",
                str(self.api_threads),
                "wsgi:app",
            ),
        )
        wait_for(lambda: requests.get(f"{self.api_url}/health", timeout=1).ok, "api")

    def worker_command(self, index: int) -> list[str]:
        """The command line of worker number `index`; a subclass may run it elsewhere (in a namespace)."""
        return self._python(f"worker-{index}", "flask", "worker")

    def worker_env(self, index: int) -> dict[str, str]:
        """The environment of worker number `index`: the stack's, unless a subclass says otherwise."""
        return self.env

    def start_worker(self, index: int) -> None:
        """Start worker number `index`."""
        self._spawn(f"worker-{index}", self.worker_command(index), env=self.worker_env(index))

    def start_scheduler(self) -> None:
        """Start the rq-scheduler process."""
        self._spawn("scheduler", self._python("scheduler", "flask", "scheduler"))

    def start_stub(self) -> None:
        """Start the stub provider under gunicorn: `stub_threads` threads in one process, so one record
        (its SMTP server included)."""
        self._spawn(
            "stub",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"{self.host}:{self.stub_port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                str(self.stub_threads),
                "--worker-connections",
                str(max(STUB_CONNECTIONS, 2 * self.stub_threads)),
                "bench.stack:stub_app()",
            ],
            env=self.stub_env,
        )
        wait_for(lambda: requests.get(f"{self.stub_url}/control", timeout=1).ok, "stub")

    def migrate(self) -> None:
        """Build the schema."""
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def issue_token(self, scope: str) -> str:
        """A bearer token with `scope`, created as an operator would, with `flask tokens create`."""
        created = subprocess.run(
            [sys.executable, "-m", "flask", "tokens", "create", "--name", "bench", "--scope", scope],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return created.stdout.strip().rsplit(" ", 1)[-1]

    def start(self) -> "Stack":
        """Start everything, in dependency order."""
        self.migrate()
        self.admin_token = self.issue_token("admin")
        if self.own_redis:
            self.start_redis()
        self.start_stub()
        self.start_api()
        for index in range(self.worker_count):
            self.start_worker(index)
        self.start_scheduler()
        return self

    def kill(self, name: str) -> None:
        """SIGKILL one process, as a crash would."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, name: str, timeout: float = 15.0) -> None:
        """SIGTERM one process (and its children) and wait for it; SIGKILL it if it lingers."""
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self, name: str) -> None:
        """Stop one process cleanly and start it again."""
        self.stop(name)
        starters = {
            "redis": self.start_redis,
            "api": self.start_api,
            "scheduler": self.start_scheduler,
            "stub": self.start_stub,
        }
        if name.startswith("worker-"):
            self.start_worker(int(name.split("-")[1]))
        else:
            starters[name]()

    def close(self) -> None:
        """Stop every process, the services before Redis."""
        for name in [name for name in self.processes if name != "redis"] + ["redis"]:
            self.stop(name)

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()
