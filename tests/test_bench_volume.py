"""The volume bench at a tiny size on the test database: the loader's rows and schema, and the whole run's
results. PostgreSQL only (the loader's SQL is PostgreSQL's); no timing is asserted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from bench import history
from bench.purge_watch import PurgeWatch
from bench.reads import READS
from bench.volume import libpq_url, reset_database

ROOT = Path(__file__).resolve().parent.parent
URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not URL.startswith("postgresql"), reason="the volume bench loads PostgreSQL (TEST_DATABASE_URL)"
)
SIZES = history.Sizes(shops=3, staff=12, alerts=300, deliveries_per_alert=4)
# Of SIZES: alerts whose id ends in 0-3 have an outcome (a record, a vendor event); a delivery is cancelled,
# so never attempted, when (7 × alert id + 131 × slot) % 1000 ≥ 995.
WITH_OUTCOME = sum(1 for alert in range(1, 301) if alert % 10 < 4)
CANCELLED = sum(1 for alert in range(1, 301) for slot in range(4) if (alert * 7 + slot * 131) % 1000 >= 995)
REPEATS = 2
# A transaction open for half a second, as the watcher's application (PGAPPNAME), on the database in argv.
HOLDS_HALF_A_SECOND = (
    "import sys, time, psycopg; connection = psycopg.connect(sys.argv[1]); "
    "connection.execute('SELECT 1'); time.sleep(0.5); connection.commit()"
)
TINY = [
    f"--shops={SIZES.shops}",
    f"--staff={SIZES.staff}",
    f"--alerts={SIZES.alerts}",
    f"--deliveries-per-alert={SIZES.deliveries_per_alert}",
    f"--read-repeats={REPEATS}",
    "--workers=1",
    "--worker-concurrency=4",
    "--fanout=3",
    "--steady-rate=10",
    "--steady-recipients=2",
    "--steady-duration=1",
    "--rates=10",
    "--ingest-duration=0.5",
    "--concurrency=8",
    "--drain-timeout=30",
    "--purge-timeout=60",
]


@pytest.fixture
def database():
    """The test database, migrated and empty; emptied again afterwards for the tests that follow."""
    reset_database(URL)
    yield libpq_url(URL)
    history.empty_schema(libpq_url(URL))


def test_the_loader_fills_every_table_and_leaves_the_migrated_schema(database):
    with psycopg.connect(database) as connection:
        migrated = history.read_schema(connection)

    loaded = history.load(database, SIZES, log=lambda _: None)

    counts = {table: figures["rows"] for table, figures in loaded["tables"].items()}
    deliveries = SIZES.alerts * SIZES.deliveries_per_alert + WITH_OUTCOME
    assert counts == {
        "locations": SIZES.shops,
        "users": SIZES.staff,
        "user_locations": SIZES.staff,
        "contact_points": 3 * SIZES.staff,
        "alerts": SIZES.alerts,
        "deliveries": deliveries,
        "delivery_attempts": deliveries - CANCELLED,
        "outcome_records": WITH_OUTCOME,
    }
    assert loaded["database_mb"] > 0
    with psycopg.connect(database) as connection:
        assert history.read_schema(connection) == migrated
        assert history.previous_load(connection)["sizes"]["alerts"] == SIZES.alerts
        claimed = connection.execute("SELECT count(*) FROM alerts WHERE claimed_by_id IS NOT NULL").fetchone()
    assert claimed[0] == sum(1 for alert in range(1, 301) if alert % 10 < 6)


def test_a_purged_month_is_put_back_for_the_next_run(database):
    history.load(database, SIZES, log=lambda _: None)
    month = history.rearm_purge(database)
    assert month["clips"] == 0  # nothing purged yet: the month is still there

    with psycopg.connect(database) as connection:
        connection.execute(
            "UPDATE alerts SET url = NULL, clip_removed_at = now() WHERE clip_removed_at IS NULL"
        )
    assert history.rearm_purge(database)["clips"] > 0


def test_what_later_runs_added_goes_and_the_history_stays(database):
    history.load(database, SIZES, log=lambda _: None)
    with psycopg.connect(database) as connection:
        shop = connection.execute(
            "INSERT INTO locations (name, display_name, timezone) VALUES ('bench-x', 'X', 'UTC') RETURNING id"
        ).fetchone()[0]
        connection.execute(
            "INSERT INTO alerts (alert_uuid, location_id, label, severity, time_spotted, received_at) "
            "VALUES ('later', %s, 'theft', 'critical', now(), now())",
            (shop,),
        )

    assert history.forget_later_runs(database) == {"alerts": 1, "shops": 1}
    with psycopg.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM alerts").fetchone()[0] == SIZES.alerts


def test_the_whole_run_measures_both_databases_every_read_and_the_purge(database, tmp_path):
    out = tmp_path / "volume"
    command = [sys.executable, "-m", "bench.volume", *TINY, f"--database-url={URL}"]
    finished = subprocess.run(
        [*command, f"--empty-database-url={URL}", f"--out={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    assert set(results["summary"]) == {
        "max_loaded_over_empty",
        "max_loaded_over_empty_figure",
        "max_read_p99_ms",
        "purge_receipt_p99_ms",
        "purge_receipt_p99_over_without",
        "purge_longest_transaction_s",
        "purge_seconds",
        "load_seconds",
        "database_mb",
    }
    assert results["load"]["tables"]["alerts"]["rows"] == SIZES.alerts
    for run in ("empty", "loaded"):
        assert {name: read["count"] for name, read in results[run]["reads"].items()} == dict.fromkeys(
            READS, REPEATS
        )
        assert results[run]["steady"]["received"] == results[run]["steady"]["expected"] > 0
    assert {f"read_{name}_p99_ms" for name in READS} <= set(results["comparison"])
    purge = results["loaded"]["purge"]
    # At these sizes a batch may commit between two of the watcher's samples: the watcher has its own test.
    assert purge["finished"]
    assert purge["output"].startswith("removed ") and not purge["output"].startswith("removed 0 clips")
    assert (out / "results.png").stat().st_size > 0
    assert "PASS" in finished.stdout or "MISS" in finished.stdout


def test_the_watcher_sees_a_transaction_of_its_application_and_how_long_it_stayed_open(database):
    watch = PurgeWatch(database, dict(os.environ), arguments=("-c", HOLDS_HALF_A_SECOND, database)).start()

    seen = watch.wait(timeout=30)

    assert seen["finished"] and seen["transactions_seen"] == 1
    assert 0.4 <= seen["longest_transaction_s"] < 5
