"""`flask` commands: worker, scheduler, the quick start's API server, data loading, sweeping, purging and
replaying deliveries, API tokens, the VAPID key and the key ring."""

import logging
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis.exceptions import RedisError

from nootification.api_server import serve
from nootification.delivery.dead_letters import list_deliveries, replay_alert, retry_delivery
from nootification.delivery.engine import DeliveryEngine
from nootification.delivery.queue import JsonScheduler, delivery_queue
from nootification.delivery.retention import ensure_purge, schedule_purge
from nootification.errors import NootificationError
from nootification.extensions import redis_queue
from nootification.garbage_collection import freeze_start_up_objects
from nootification.models import DeliveryStatus
from nootification.observability.metrics_server import start_metrics_server
from nootification.periodic import ensure_sweeper, schedule_sweeper, sweep
from nootification.services.keys import rotate_keys
from nootification.services.retention import Pace, purge
from nootification.services.seed import load_data
from nootification.services.tokens import SCOPES, create_token, issue_demo_tokens, list_tokens, revoke_token
from nootification.staff.web_push import new_private_key, vapid_public_key

log = logging.getLogger(__name__)

DEMO_DATA = Path(__file__).resolve().parent / "data" / "demo.json"
DEMO_TOKENS = Path("instance") / "demo-tokens.json"


def wait_for_redis(timeout: float | None, stopped: Callable[[], bool] = lambda: False) -> None:
    """Block until Redis answers (for ever when timeout is None) or `stopped` holds, so processes do not race
    the server."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not stopped():
        try:
            redis_queue.connection.ping()
            return
        except RedisError:
            # Refused, reset or stalled (a timeout): every Redis error is waited out the same way.
            if deadline is not None and time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def keep_running(
    run_once: Callable[[], bool], name: str, stopped: Callable[[], bool] = lambda: False
) -> None:
    """Call `run_once` until it returns True; when it ends early (Redis went away), wait and start again,
    unless `stopped` holds: a stop asked for meanwhile is never lost to a new start."""
    while not stopped():
        try:
            if run_once():
                return
            log.warning("%s stopped on its own; starting it again once Redis answers", name)
        except RedisError as error:
            if stopped():
                break
            log.error("%s lost Redis (%s); starting it again once Redis answers", name, error)
        time.sleep(1)
        wait_for_redis(timeout=None, stopped=stopped)
    log.info("%s stopped while Redis was away", name)


class StopAwareScheduler(JsonScheduler):
    """rq-scheduler with its stop handler in place before it registers: a stop never leaves it listed; and
    the periodic sweep and the daily purge put back whenever they are missing from the schedule."""

    def __init__(self, *args, sweep_interval: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.sweep_interval = sweep_interval

    def register_birth(self) -> None:
        """Install the stop handler (it registers the death), then register as rq-scheduler does."""
        self._install_signal_handlers()
        super().register_birth()

    def enqueue_jobs(self):
        """Check that the periodic sweep and the daily purge are scheduled, then queue the due jobs as
        rq-scheduler does."""
        ensure_sweeper(self.sweep_interval)
        ensure_purge()
        return super().enqueue_jobs()


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty and nothing is in flight.")
@click.option("--wait-redis", default=30.0, show_default=True, help="Seconds to wait for Redis at start.")
@with_appcontext
def worker_command(burst: bool, wait_redis: float) -> None:
    """Run the delivery engine: RQ's delivery queue, WORKER_CONCURRENCY sends in flight in this process."""
    wait_for_redis(wait_redis)
    start_metrics_server(current_app.config)
    config = current_app.config
    freeze_start_up_objects()

    engines: list[DeliveryEngine] = []

    def work() -> bool:
        engine = DeliveryEngine(
            [delivery_queue()],
            app=current_app._get_current_object(),
            concurrency=config["WORKER_CONCURRENCY"],
            batch_size=config["WORKER_BATCH"],
            stop_timeout=config["WORKER_STOP_TIMEOUT"],
            connection=redis_queue.connection,
            worker_ttl=config["WORKER_TTL"],
        )
        engines.append(engine)
        engine.work(burst=burst)
        return burst or engine.stopping

    # The engine's signal handlers stay in place between engines: the last one's stop counts.
    keep_running(work, "worker", stopped=lambda: bool(engines) and engines[-1].stopping)


@click.command("scheduler")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between checks for due jobs.")
@click.option("--wait-redis", default=30.0, show_default=True, help="Seconds to wait for Redis at start.")
@with_appcontext
def scheduler_command(interval: float, wait_redis: float) -> None:
    """Run rq-scheduler: it queues the periodic delivery sweep and the daily purge (retries are queued by
    the workers when due)."""
    wait_for_redis(wait_redis)

    def run() -> bool:
        sweep_interval = current_app.config["SWEEP_INTERVAL"]
        schedule_sweeper(sweep_interval)
        schedule_purge()
        scheduler = StopAwareScheduler(
            queue=delivery_queue(),
            connection=redis_queue.connection,
            interval=interval,
            sweep_interval=sweep_interval,
        )
        scheduler.run()
        return True  # rq-scheduler only returns on a stop signal (SystemExit) or raises

    freeze_start_up_objects()
    keep_running(run, "scheduler")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, help="Threads running requests.")
@with_appcontext
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the API under waitress (the quick start's server): each request is read whole, slow ones too,
    before a thread runs it. SIGTERM or Ctrl-C stops it once the requests in flight have run (up to 5 s)."""
    freeze_start_up_objects()
    serve(current_app._get_current_object(), host=host, port=port, threads=threads)


@click.command("load-data")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=DEMO_DATA)
@click.option(
    "--reset",
    is_flag=True,
    help="Put the file's shops, staff, routes and contact points back as the file has them, overwriting "
    "changes made through the API (without it, only what is missing is added).",
)
@with_appcontext
def load_data_command(path: Path, reset: bool) -> None:
    """Add what is missing of a JSON file's shops, staff, routes and contact points (default: demo data)."""
    loaded = _or_exit(partial(load_data, reset=reset), path)
    click.echo(
        f"loaded {loaded.locations} locations, {loaded.users} users, {loaded.routes} routes "
        f"and {loaded.contact_points} contact points from {path} ({loaded.written} written"
        f"{', reset' if reset else ''})"
    )


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Run one delivery sweep now (the scheduler runs it every SWEEP_INTERVAL seconds)."""
    report = sweep()
    click.echo(f"queued {report.queued} (reclaimed {report.reclaimed}), expired {report.expired}")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would go; change nothing.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Remove clips past RETENTION_CLIP_DAYS and ledger texts past RETENTION_MESSAGE_DAYS (the scheduler runs
    it daily); print the counts."""
    report = purge(dry_run=dry_run, pace=Pace(pause_seconds=current_app.config["PURGE_PAUSE_SECONDS"]))
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {report.clips} clips; the ledger texts of {report.message_alerts} alerts "
        f"({report.deliveries} deliveries, {report.attempts} attempts); {report.sms_replies} SMS replies"
    )


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
    """Print deliveries of every kind: id, status, attempts, channel, alert (- for none), last error."""
    page = list_deliveries(
        status=DeliveryStatus(status) if status else None, alert_uuid=alert_uuid, page_size=limit
    )
    for delivery in page.items:
        click.echo(
            f"{delivery.id}  {delivery.status.value:9}  {delivery.attempts:3}  {delivery.channel:8}  "
            f"{delivery.alert.alert_uuid if delivery.alert else '-':36}  {delivery.last_error or ''}"
        )
    click.echo(f"{len(page.items)} of {page.total}{'' if page.total_exact else '+'}")


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


@click.group("tokens")
def tokens_group() -> None:
    """Create, list and revoke API bearer tokens."""


@tokens_group.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. 'camera system, shop 12'.")
@click.option(
    "--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES), help="Repeatable."
)
@click.option("--user", "user_uuid", help="The user a preferences:self token belongs to.")
@with_appcontext
def create_token_command(name: str, scopes: tuple[str, ...], user_uuid: str | None) -> None:
    """Issue a token; it is printed once and stored only as a hash."""
    issued = _or_exit(lambda _: create_token(name=name, scopes=list(scopes), user_uuid=user_uuid), None)
    click.echo(f"token {issued.record.id} ({', '.join(issued.record.scopes)}): {issued.token}")


@tokens_group.command("list")
@with_appcontext
def list_tokens_command() -> None:
    """Print every token: id, scopes, user, created, revoked."""
    for record in list_tokens():
        user = record.user.user_uuid if record.user else "-"
        revoked = record.revoked_at.isoformat() if record.revoked_at else "live"
        click.echo(f"{record.id:5}  {','.join(record.scopes):30}  {user:36}  {record.name}  {revoked}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_token_command(token_id: int) -> None:
    """Revoke a token; it is refused from then on."""
    record = _or_exit(revoke_token, token_id)
    click.echo(f"token {record.id} revoked")


@tokens_group.command("demo")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=DEMO_TOKENS, show_default=True
)
@with_appcontext
def demo_tokens_command(output: Path) -> None:
    """Replace the demo tokens (admin, alerts:write, preferences:self per user) and write them to a file."""
    tokens = issue_demo_tokens(output)
    click.echo(f"wrote {2 + len(tokens['users'])} demo tokens to {output}")


def _or_exit(action, argument):
    try:
        return action(argument)
    except NootificationError as error:
        raise click.ClickException(error.message) from error


@click.group("vapid")
def vapid_group() -> None:
    """The VAPID key pair that signs Web Push (its private key is the secret WEBPUSH_VAPID_PRIVATE_KEY)."""


@vapid_group.command("new-key")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it to this file (0600).")
def vapid_new_key_command(out: Path | None) -> None:
    """Make a new VAPID private key (base64url); print it, or write it to --out unless that file exists."""
    private_key = new_private_key()
    if out is None:
        click.echo(private_key)
        return
    if out.exists():
        click.echo(f"{out} exists: kept")
        return
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(private_key + "\n")
    click.echo(f"wrote a new VAPID private key to {out}")


@vapid_group.command("public-key")
@with_appcontext
def vapid_public_key_command() -> None:
    """Print the public key of the configured VAPID private key: browsers subscribe with it."""
    try:
        click.echo(vapid_public_key())
    except NootificationError as error:
        raise click.ClickException(error.message) from error


@click.group("keys")
def keys_group() -> None:
    """The key ring that signs action links and ops tickets and keys the vendor's pseudonyms."""


@keys_group.command("rotate")
@with_appcontext
def rotate_keys_command() -> None:
    """Write a new random key first in SECRET_KEY_FILE, keeping the older keys after it.

    The new key signs once every API, worker and scheduler process is restarted; the older ones still verify
    the links and tickets they signed. The last line keys the vendor's pseudonyms: keep it. No key is printed.
    """
    try:
        rotation = rotate_keys(current_app.config)
    except NootificationError as error:
        raise click.ClickException(error.message) from error
    click.echo(
        f"wrote a new signing key first in {rotation.path}; kept {rotation.keys_before} older key(s) after "
        "it, which still verify what they signed. Restart every API, worker and scheduler process to sign "
        "with the new key."
    )


def register_commands(app: Flask) -> None:
    """Add the commands to `flask`."""
    commands = (
        worker_command,
        scheduler_command,
        serve_command,
        load_data_command,
        sweep_command,
        purge_command,
        deliveries_group,
        alerts_group,
        tokens_group,
        vapid_group,
        keys_group,
    )
    for command in commands:
        app.cli.add_command(command)
