"""A chain's history and what it costs: the bench's figures on an empty and on a loaded PostgreSQL database.

First --empty-database-url (migrated, nothing else), then --database-url loaded with a chain's year of history
(bench/history.py: --shops, --staff with contact points, --alerts over a year, --deliveries-per-alert each
with its attempt, claims, outcome records and vendor events; --skip-load reuses it, deleting what earlier
runs added and putting back the month the purge removes). Each runs with its own loopback stack
(bench/stack.py):
  fan-out  one alert to --fanout recipients: time to the last receipt at the stub
  steady   --steady-rate alerts/s × --steady-recipients for --steady-duration s: API CPU per alert, POST p99,
           receipt p99
  ingest   POST /webhooks/alerts open loop at each --rates for --ingest-duration s: POST p99, API CPU
  reads    every read a person or a dashboard makes (bench/reads.py), --read-repeats times each: p99
Then, on the loaded database only, the steady scenario again while `flask purge` removes a month of clips
and ledger texts (bench/purge_watch.py): the receipt p99 beside it, and its longest transaction.

Writes results.json (its `summary`: max_loaded_over_empty, max_read_p99_ms and the purge's figures) and
results.png to --out. Both databases are replaced (every table in them dropped first), unless --skip-load;
they may be one database, the empty run coming first.
"""

import argparse
import logging
import os
import secrets
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rq import Queue

from bench import history, report
from bench.bench import (
    ALERTS,
    ArgumentDefaultsRawDescriptionHelpFormatter,
    Bench,
    BenchError,
    _expect,
    _latencies,
    _positive,
    _rates,
    alert_body,
    create_shop,
    run_fanout,
    run_ingest,
    run_steady,
    set_provider_latency,
    wait_for_receipts,
    warm_up,
)
from bench.purge_watch import PurgeWatch
from bench.reads import Reader, measure_reads
from bench.sampling import StackProcesses, busy_cores
from bench.stack import ROOT, Stack
from bench.volume_report import compare, plot, render_table, summary
from nootification.config import Config
from nootification.redis_connection import connect

log = logging.getLogger(__name__)

DEFAULT_OUT = ROOT / "bench" / "results" / "volume"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/nootification_volume"
# Tickets for the ops stream are signed; a closed stream frees its slot at the server's next poll.
# The scheduler's daily purge runs at its start: with these retentions it finds nothing, so the loaded
# history's month waits for the purge the bench runs itself, with the service's own retentions, and watches.
HELD_OFF = {"RETENTION_CLIP_DAYS": "36500", "RETENTION_MESSAGE_DAYS": "36500"}
OWN_RETENTION = {
    "RETENTION_CLIP_DAYS": str(Config.RETENTION_CLIP_DAYS),
    "RETENTION_MESSAGE_DAYS": str(Config.RETENTION_MESSAGE_DAYS),
}
STACK_SETTINGS = HELD_OFF | {
    "SECRET_KEY": secrets.token_hex(32),
    "OPS_POLL_INTERVAL": "0.05",
    "LOG_LEVEL": "WARNING",
}


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL `postgresql+psycopg://…` as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def reset_database(url: str) -> None:
    """Create the database if it is missing, drop everything in it, then build the migrated schema."""
    try:
        psycopg.connect(libpq_url(url)).close()
    except psycopg.OperationalError:
        server, _, name = libpq_url(url).rpartition("/")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    history.empty_schema(libpq_url(url))
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, "FLASK_APP": "nootification", "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


def run_database(options: argparse.Namespace, url: str, *, purge: bool) -> dict:
    """A stack on the database at `url`: fan-out, steady, ingest, the reads, and (if `purge`) the steady
    scenario again beside `flask purge`."""
    settings = STACK_SETTINGS | {"DATABASE_URL": url, "WORKER_CONCURRENCY": str(options.worker_concurrency)}
    stack = Stack(
        workers=options.workers,
        api_workers=options.api_workers,
        api_threads=options.api_threads,
        settings=settings,
    )
    with stack:
        redis = connect(stack.redis_url)
        queue_key = Queue(stack.env.get("RQ_QUEUE_NAME", Config.RQ_QUEUE_NAME), connection=redis).key
        bench = Bench(stack, options, redis, queue_key, StackProcesses(stack))
        admin = bench.client()
        fanout_shop = create_shop(admin, options.fanout)
        steady_shop = create_shop(admin, options.steady_recipients)
        ingest_shop = create_shop(admin, 1)
        warm_up(bench, ingest_shop)
        set_provider_latency(bench.stub, options.provider_latency[0])
        log.info("fan-out: one alert to %d recipients", options.fanout)
        fanout, _ = bench.measure("fan-out", lambda: run_fanout(bench, fanout_shop))
        log.info("steady: %g alerts/s × %d", options.steady_rate, options.steady_recipients)
        steady, _ = bench.measure("steady", lambda: run_steady(bench, steady_shop))
        steady["api_cpu_ms_per_alert"] = bench.cpu_ms("steady", "api", steady["ok"])
        ingest = {}
        for rate in options.rates:
            log.info("ingest: %g alerts/s for %g s", rate, options.ingest_duration)
            name = f"ingest {rate:g}/s"
            ingest[f"{rate:g}"] = bench.measure(name, lambda rate=rate: run_ingest(bench, rate, ingest_shop))
            ingest[f"{rate:g}"]["api_cpu_ms_per_alert"] = bench.cpu_ms(name, "api", ingest[f"{rate:g}"]["ok"])
        answer = _expect(admin.post(ALERTS, alert_body(steady_shop)), 201, "the reads' alert")
        wait_for_receipts(bench.stub, answer["delivery_count"], options.drain_timeout)
        admin.close()
        log.info("reads: each %d times", options.read_repeats)
        reader = Reader(stack.api_url, stack.admin_token, steady_shop, answer["alert_uuid"])
        results = {
            "fanout": fanout,
            "steady": steady,
            "ingest": ingest,
            "reads": measure_reads(reader, options.read_repeats),
        }
        if purge:
            results["purge"] = run_purge(bench, libpq_url(url), steady_shop)
        redis.close()
        for index in range(stack.worker_count):
            stack.kill(f"worker-{index}")
    return results | {"cpu": bench.cpu}


def run_purge(bench: Bench, url: str, shop: str) -> dict:
    """The steady scenario again while `flask purge` runs: its receipts, and the purge's transactions."""
    log.info("purge: flask purge beside the steady load")
    watch = PurgeWatch(url, bench.stack.env | OWN_RETENTION).start()
    time.sleep(1.0)  # into its batches before the load starts
    steady, _ = bench.measure("steady beside the purge", lambda: run_steady(bench, shop))
    overlapped = watch.process.poll() is None
    purge = watch.wait(bench.options.purge_timeout)
    return {
        "steady": steady,
        "purge_ran_through_steady": overlapped,
        **purge,
    }


def meta(options: argparse.Namespace, argv: list[str]) -> dict:
    """When, how and on what it ran, and how busy the machine was."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "bench.volume", *argv]),
        "cpus": os.cpu_count(),
        "load_average_before": [round(load, 2) for load in os.getloadavg()],
        "busy_cores_before": round(busy_cores(), 2),
        "sizes": {
            "shops": options.shops,
            "staff": options.staff,
            "alerts": options.alerts,
            "deliveries_per_alert": options.deliveries_per_alert,
        },
        "provider_latency_ms": options.provider_latency[0],
        "workers": options.workers,
        "worker_concurrency": options.worker_concurrency,
        "python": sys.version.split()[0],
    }


def prepare_loaded(options: argparse.Namespace) -> dict:
    """The loaded database: loaded now, or (--skip-load) as it is, with the purge's month put back."""
    url = libpq_url(options.database_url)
    if options.skip_load:
        log.info("reusing the loaded database: earlier runs' rows go, the purge's month comes back")
        forgotten = history.forget_later_runs(url)
        rearmed = history.rearm_purge(url)
        with psycopg.connect(url) as connection:
            return (
                history.previous_load(connection)
                | {"reused": True, "forgotten": forgotten, "rearmed": rearmed}
                | history.disk_usage(connection)
            )
    reset_database(options.database_url)
    sizes = history.Sizes(options.shops, options.staff, options.alerts, options.deliveries_per_alert)
    log.info("loading %s", sizes)
    return history.load(url, sizes, log=log.info)


def run(options: argparse.Namespace, argv: list[str]) -> dict:
    """The empty database's run, then the load and the loaded database's run; the results with their
    comparison and summary."""
    results: dict = {"meta": meta(options, argv)}
    log.info("empty database: %s", options.empty_database_url)
    reset_database(options.empty_database_url)
    empty = run_database(options, options.empty_database_url, purge=False)
    loaded = prepare_loaded(options)
    log.info("loaded database: %s", options.database_url)
    loaded_run = run_database(options, options.database_url, purge=True)
    results["meta"]["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
    comparison = compare(empty, loaded_run)
    return results | {
        "summary": summary(comparison, loaded, loaded_run),
        "load": loaded,
        "comparison": comparison,
        "empty": empty,
        "loaded": loaded_run,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line: the chain's sizes, the databases, the scenarios' sizes."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.volume",
        description=__doc__,
        formatter_class=ArgumentDefaultsRawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--shops", type=_positive, default=2_000, metavar="N", help="shops of the chain")
    add("--staff", type=_positive, default=60_000, metavar="N", help="staff, spread evenly over the shops")
    add("--alerts", type=_positive, default=2_000_000, metavar="N", help="alerts over the year")
    add("--deliveries-per-alert", type=_positive, default=10, metavar="N", help="each to one person")
    add("--database-url", default=DEFAULT_URL, metavar="URL", help="the database to load (replaced)")
    add(
        "--empty-database-url",
        default=DEFAULT_URL + "_empty",
        metavar="URL",
        help="the empty database to compare with (replaced); may be --database-url itself",
    )
    add("--skip-load", action="store_true", help="reuse the loaded database, putting back the purge's month")
    add("--read-repeats", type=_positive, default=50, metavar="N", help="times each read is timed")
    add("--workers", type=_positive, default=2, metavar="K", help="`flask worker` processes")
    add("--worker-concurrency", type=_positive, default=32, metavar="N", help="WORKER_CONCURRENCY")
    add("--api-workers", type=_positive, default=2, metavar="N", help="API gunicorn workers")
    add("--api-threads", type=_positive, default=4, metavar="N", help="threads per API worker")
    add("--provider-latency", type=_latencies, default="1", metavar="MS", help="the stub answers after MS ms")
    add("--fanout", type=_positive, default=1000, metavar="N", help="recipients of the fan-out alert")
    add("--steady-rate", type=float, default=20.0, metavar="R", help="steady-state alerts/s")
    add("--steady-recipients", type=_positive, default=10, metavar="N", help="recipients per steady alert")
    add("--steady-duration", type=float, default=30.0, metavar="S", help="seconds of steady state")
    add("--rates", type=_rates, default="50,200", metavar="R,R,...", help="ingest alerts/s")
    add("--ingest-duration", type=float, default=10.0, metavar="S", help="seconds per ingest rate")
    add("--concurrency", type=_positive, default=64, metavar="N", help="threads of the open-loop client")
    add("--drain-timeout", type=float, default=300.0, metavar="S", help="most seconds to wait for receipts")
    add("--purge-timeout", type=float, default=1800.0, metavar="S", help="most seconds the purge may run")
    add("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="for results.json and results.png")
    options = parser.parse_args(argv)
    try:
        history.Sizes(options.shops, options.staff, options.alerts, options.deliveries_per_alert)
    except ValueError as error:
        parser.error(str(error))
    return options


def main(argv: list[str] | None = None) -> int:
    """Load, run both databases, print the table, write the JSON and the plot."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    options.out.mkdir(parents=True, exist_ok=True)
    try:
        results = run(options, argv)
    except BenchError as error:
        log.error("the bench stopped: %s", error)
        return 1
    json_path, png_path = options.out / "results.json", options.out / "results.png"
    report.write_json(results, json_path)
    plot(results, png_path)
    print(render_table(results))
    print(f"\n{json_path}\n{png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
