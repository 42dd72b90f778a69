"""A PostgreSQL server of the bench's own, in a temporary directory, listening on one address and a free
port.

The machine's shared server is never reconfigured: this one is initialised (as the postgres user) for a run,
accepts anyone on its own /24 without a password, and is stopped by its postmaster's pid (pg_ctl) and removed
at the end.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from bench.stack import free_port, wait_for

BINARIES = Path(os.environ.get("PG_BINARIES", "/usr/lib/postgresql/15/bin"))
OWNER = "postgres"
# Room for every process's pool at once: 4 workers' (WORKER_CONCURRENCY + 1 overflow each), the API's, the
# scheduler's and the bench's own.
MAX_CONNECTIONS = 400


def server_options(address: str, port: int, socket_directory: Path) -> list[str]:
    """The postgres settings of the bench's server: its address and port, no loopback, its own socket dir."""
    return [
        f"-c listen_addresses={address}",
        f"-c port={port}",
        f"-c unix_socket_directories={socket_directory}",
        f"-c max_connections={MAX_CONNECTIONS}",
    ]


def hba_line(address: str) -> str:
    """pg_hba.conf's line that lets the hosts of `address`'s /24 in without a password."""
    network = address.rsplit(".", 1)[0] + ".0/24"
    return f"host all all {network} trust\n"


class Postgres:
    """initdb, start, a database URL, stop: one server for one run."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.port = free_port(address)
        self.directory = Path(tempfile.mkdtemp(prefix="nootification-pg-"))
        self.data = self.directory / "data"
        self.started = False

    def _as_owner(self, *command: str) -> None:
        subprocess.run(["runuser", "-u", OWNER, "--", *command], check=True, capture_output=True)

    def start(self) -> "Postgres":
        """Initialise the cluster and start the server; wait until it answers."""
        shutil.chown(self.directory, OWNER)
        self._as_owner(
            str(BINARIES / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(hba_line(self.address))
        options = " ".join(server_options(self.address, self.port, self.directory))
        self.started = True
        self._as_owner(
            str(BINARIES / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"), "-o", options,
            "-w", "start",
        )  # fmt: skip
        wait_for(lambda: psycopg.connect(self.conninfo("postgres")).close() is None, "postgres")
        return self

    def conninfo(self, database: str) -> str:
        """A libpq URL of `database` on this server."""
        return f"postgresql://postgres@{self.address}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a database; its SQLAlchemy URL."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@{self.address}:{self.port}/{name}"

    def pid(self) -> int | None:
        """The postmaster's pid, from its pid file."""
        pid_file = self.data / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None

    def stop(self) -> None:
        """Stop the server (pg_ctl signals its postmaster by pid) and remove its directory; safe twice."""
        if self.started and self.pid() is not None:
            subprocess.run(
                ["runuser", "-u", OWNER, "--", str(BINARIES / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                 "-w", "stop"],
                capture_output=True,
            )  # fmt: skip
        self.started = False
        shutil.rmtree(self.directory, ignore_errors=True)
