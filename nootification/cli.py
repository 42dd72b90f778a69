"""`flask` commands: worker, scheduler, data loading, sweeping and replaying deliveries."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq_scheduler import Scheduler

from nootification.errors import NootificationError
from nootification.extensions import redis_queue
from nootification.metrics import start_metrics_server
from nootification.models import DeliveryStatus
from nootification.services.deliveries import list_deliveries, replay_alert, retry_delivery
from nootification.services.directory import load_data
from nootification.services.outbox import schedule_sweeper, sweep

log = logging.getLogger(__name__)

DEMO_DATA = Path(__file__).resolve().parent / "data" / "demo.json"


def wait_for_redis(timeout: float | None) -> None:
    """Block until Redis answers (for ever when timeout is None), so processes do not race the server."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            redis_queue.connection.ping()
            return
        except RedisConnectionError:
            if deadline is not None and time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def keep_running(run_once: Callable[[], bool], name: str) -> None:
    """Call `run_once` until it returns True; when it ends early (Redis went away), wait and start again."""
    while True:
        try:
            if run_once():
                return
            log.warning("%s stopped on its own; starting it again once Redis answers", name)
        except RedisError as error:
            log.error("%s lost Redis (%s); starting it again once Redis answers", name, error)
        time.sleep(1)
        wait_for_redis(timeout=None)


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
    start_metrics_server(current_app.config)
    worker_class = Worker if fork else SimpleWorker

    def work() -> bool:
        worker = worker_class(
            [redis_queue.queue],
            connection=redis_queue.connection,
            worker_ttl=current_app.config["WORKER_TTL"],
        )
        worker.work(burst=burst, logging_level=current_app.config["LOG_LEVEL"])
        # RQ's work() also returns when Redis fails under it; only a burst or a stop request is final.
        return burst or worker._stop_requested

    keep_running(work, "worker")


@click.command("scheduler")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between checks for due jobs.")
@click.option("--wait-redis", default=30.0, show_default=True, help="Seconds to wait for Redis at start.")
@with_appcontext
def scheduler_command(interval: float, wait_redis: float) -> None:
    """Run rq-scheduler: it queues retries when they are due and the periodic delivery sweep."""
    wait_for_redis(wait_redis)

    def run() -> bool:
        schedule_sweeper(current_app.config["SWEEP_INTERVAL"])
        Scheduler(queue=redis_queue.queue, connection=redis_queue.connection, interval=interval).run()
        return True  # rq-scheduler only returns on a stop signal (SystemExit) or raises

    keep_running(run, "scheduler")


@click.command("load-data")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=DEMO_DATA)
@with_appcontext
def load_data_command(path: Path) -> None:
    """Create or update shops and staff from a JSON file (default: the demo data)."""
    locations, users = load_data(path)
    click.echo(f"loaded {locations} locations and {users} users from {path}")


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Run one delivery sweep now (the scheduler runs it every SWEEP_INTERVAL seconds)."""
    report = sweep()
    click.echo(f"queued {report.queued} (reclaimed {report.reclaimed}), expired {report.expired}")


@click.group("deliveries")
def deliveries_group() -> None:
    """Look into deliveries and send dead letters again."""


@deliveries_group.command("list")
@click.option(
    "--status", type=click.Choice([status.value for status in DeliveryStatus]), help="Only this status."
)
@click.option("--alert", "alert_uuid", help="Only this alert's deliveries.")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@with_appcontext
def list_deliveries_command(status: str | None, alert_uuid: str | None, limit: int) -> None:
    """Print deliveries: id, status, attempts, channel, alert, last error."""
    page = list_deliveries(
        status=DeliveryStatus(status) if status else None, alert_uuid=alert_uuid, page_size=limit
    )
    for delivery in page.items:
        click.echo(
            f"{delivery.id}  {delivery.status.value:9}  {delivery.attempts:3}  {delivery.channel:8}  "
            f"{delivery.alert.alert_uuid}  {delivery.last_error or ''}"
        )
    click.echo(f"{len(page.items)} of {page.total}")


@deliveries_group.command("retry")
@click.argument("delivery_id")
@with_appcontext
def retry_delivery_command(delivery_id: str) -> None:
    """Send a failed or expired delivery again."""
    delivery = _or_exit(retry_delivery, delivery_id)
    click.echo(f"delivery {delivery.id} is {delivery.status.value}")


@click.group("alerts")
def alerts_group() -> None:
    """Act on stored alerts."""


@alerts_group.command("replay")
@click.argument("alert_uuid")
@with_appcontext
def replay_alert_command(alert_uuid: str) -> None:
    """Send again an alert's failed or expired deliveries (never the sent ones)."""
    replayed = _or_exit(replay_alert, alert_uuid)
    click.echo(f"replayed {len(replayed)} deliveries of alert {alert_uuid}")


def _or_exit(action, argument):
    try:
        return action(argument)
    except NootificationError as error:
        raise click.ClickException(error.message) from error


def register_commands(app: Flask) -> None:
    """Add the commands to `flask`."""
    commands = (
        worker_command,
        scheduler_command,
        load_data_command,
        sweep_command,
        deliveries_group,
        alerts_group,
    )
    for command in commands:
        app.cli.add_command(command)
