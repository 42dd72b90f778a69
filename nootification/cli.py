"""`flask` commands: worker, scheduler and data loading."""

import logging
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import SimpleWorker, Worker
from rq_scheduler import Scheduler

from nootification.extensions import redis_queue
from nootification.services.directory import load_data

log = logging.getLogger(__name__)

DEMO_DATA = Path(__file__).resolve().parent / "data" / "demo.json"


def wait_for_redis(timeout: float) -> None:
    """Block until Redis answers, so processes started together do not race the server."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis_queue.connection.ping()
            return
        except RedisConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@click.command("worker")
@click.option(
    "--fork", is_flag=True, help="Run each job in a forked child (RQ's Worker) instead of in-process."
)
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--wait-redis", default=30.0, show_default=True, help="Seconds to wait for Redis at start.")
@with_appcontext
def worker_command(fork: bool, burst: bool, wait_redis: float) -> None:
    """Run an RQ worker on the delivery queue inside the application context."""
    wait_for_redis(wait_redis)
    worker_class = Worker if fork else SimpleWorker
    worker = worker_class([redis_queue.queue], connection=redis_queue.connection)
    worker.work(burst=burst, logging_level=current_app.config["LOG_LEVEL"])


@click.command("scheduler")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between checks for due jobs.")
@click.option("--wait-redis", default=30.0, show_default=True, help="Seconds to wait for Redis at start.")
@with_appcontext
def scheduler_command(interval: float, wait_redis: float) -> None:
    """Run rq-scheduler, which moves scheduled jobs onto the delivery queue when they are due."""
    wait_for_redis(wait_redis)
    scheduler = Scheduler(queue=redis_queue.queue, connection=redis_queue.connection, interval=interval)
    scheduler.run()


@click.command("load-data")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=DEMO_DATA)
@with_appcontext
def load_data_command(path: Path) -> None:
    """Create or update shops and staff from a JSON file (default: the demo data)."""
    locations, users = load_data(path)
    click.echo(f"loaded {locations} locations and {users} users from {path}")


def register_commands(app: Flask) -> None:
    """Add the commands to `flask`."""
    for command in (worker_command, scheduler_command, load_data_command):
        app.cli.add_command(command)
