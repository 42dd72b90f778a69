"""What RQ's own worker costs per job: no-op jobs through RQ's SimpleWorker, with Redis commands and CPU each.

    python -m bench.rq_cost --jobs 2000

It starts its own redis-server on a free loopback port, queues `--jobs` jobs of a function that does
nothing (with `result_ttl=0`, as deliveries are queued), runs them in one burst through RQ's SimpleWorker,
and prints jobs/s, worker CPU per job and Redis commands per job: the floor one job at a time costs, which
the delivery engine (`flask worker`) avoids by taking and closing its jobs in batches.
"""

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from bench.stack import free_port, wait_for
from nootification.redis_connection import connect
from nootification.redis_server import find_redis_server, server_arguments


def nothing() -> None:
    """The job: no work at all, so what is measured is RQ's bookkeeping around it."""


def commands_processed(connection: Redis) -> int:
    """Commands the server has processed since it started."""
    return int(connection.info("stats")["total_commands_processed"])


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(connection: Redis, jobs: int) -> dict:
    """Queue `jobs` no-op jobs, run them in one burst, and return the figures."""
    # JSON, as the service's jobs are (a no-op is not one of its job functions, so not its JsonJob).
    queue = Queue("rq-cost", connection=connection, serializer=JSONSerializer)
    queue.enqueue_many([queue.prepare_data(f"{__name__}.nothing", result_ttl=0) for _ in range(jobs)])
    worker = SimpleWorker([queue], connection=connection, serializer=JSONSerializer)
    commands, cpu, start = commands_processed(connection), cpu_seconds(), time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    per_job_commands = (commands_processed(connection) - commands - 1) / jobs
    return {
        "jobs/s": round(jobs / wall),
        "worker CPU per job (ms)": round(cpu * 1000 / jobs, 2),
        "Redis commands per job": round(per_job_commands, 1),
    }


def main() -> None:
    """Parse the options, run the measurement, print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.rq_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs to run (default: %(default)s)")
    options = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        arguments = server_arguments(port=port, directory=Path(directory), persist=False)
        server = subprocess.Popen([find_redis_server(), *arguments], stdout=subprocess.DEVNULL)
        try:
            connection = connect(f"redis://127.0.0.1:{port}/0")
            wait_for(connection.ping, "redis")
            figures = measure(connection, options.jobs)
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name, value in figures.items():
        print(f"{name:<26}{value}")


if __name__ == "__main__":
    main()
