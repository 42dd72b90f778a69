"""A Redis primary, its replica and three sentinels (quorum 2) on loopback: a failover on demand."""

import shutil
import signal
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from bench.stack import free_port, wait_for
from nootification.redis_server import find_redis_server, server_arguments

SERVICE = "nootification"
QUORUM = 2
# A primary silent for a second is down; a failover that stalls is tried again after 5 s.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def find_sentinel() -> str | None:
    """The path of Debian's redis-sentinel, or None when it is not installed."""
    return shutil.which("redis-sentinel")


def sentinel_config(*, port: int, primary_port: int, directory: Path) -> str:
    """A sentinel's configuration file (sentinels rewrite theirs, so each needs its own)."""
    return "\n".join(
        [
            f"port {port}",
            "bind 127.0.0.1",
            f'dir "{directory}"',
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} {QUORUM}",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SERVICE} 1",
            "",
        ]
    )


class SentinelCluster:
    """Starts the primary, the replica and the sentinels; kills the primary; tells who is primary now."""

    def __init__(self, directory: Path, sentinels: int = 3):
        self.directory = directory
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """The service's REDIS_URL: every sentinel, the service name, database 0."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 (the process owns it)
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _server(self, name: str, port: int, *extra: str) -> None:
        directory = self.directory / name
        directory.mkdir()
        arguments = server_arguments(port=port, directory=directory, persist=False)
        self._spawn(name, [find_redis_server(), *arguments, *extra])
        wait_for(lambda: Redis(port=port).ping(), name)

    def start(self, sentinel: str) -> "SentinelCluster":
        """Start everything; return once the replica is in sync and every sentinel knows the others."""
        self._server("primary", self.primary_port)
        self._server("replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port))
        for index, port in enumerate(self.sentinel_ports):
            config = self.directory / f"sentinel-{index}.conf"
            config.write_text(
                sentinel_config(port=port, primary_port=self.primary_port, directory=self.directory)
            )
            self._spawn(f"sentinel-{index}", [sentinel, str(config)])
        wait_for(self._ready, "the sentinels", timeout=30)
        return self

    def _ready(self) -> bool:
        replica = Redis(port=self.replica_port).info("replication")
        if replica.get("master_link_status") != "up":
            return False
        others = len(self.sentinel_ports) - 1
        for port in self.sentinel_ports:
            sentinel = Redis(port=port, decode_responses=True)
            replicas = sentinel.execute_command("SENTINEL", "REPLICAS", SERVICE)
            known = sentinel.execute_command("SENTINEL", "SENTINELS", SERVICE)
            if not replicas or len(known) < others:
                return False
        return True

    def primary_port_now(self) -> int:
        """The port the sentinels name as the primary now."""
        for port in self.sentinel_ports:
            try:
                address = Redis(port=port, decode_responses=True).sentinel_get_master_addr_by_name(SERVICE)
            except RedisError:
                continue
            if address:
                return int(address[1])
        raise RuntimeError("no sentinel answers")

    def kill_primary(self) -> None:
        """SIGKILL the primary, as a host's crash would."""
        process = self.processes["primary"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def wait_for_promotion(self, timeout: float = 30.0) -> float:
        """Wait until the sentinels name the replica and it answers as primary; when (time.time())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.primary_port_now() == self.replica_port:
                role = Redis(port=self.replica_port).info("replication").get("role")
                if role == "master":
                    return time.time()
            time.sleep(0.1)
        raise TimeoutError(f"the replica was not promoted within {timeout:.0f} s")

    def __enter__(self) -> "SentinelCluster":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process this cluster started."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
