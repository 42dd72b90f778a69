"""A chain's history, loaded straight into a migrated PostgreSQL database: shops, staff with contact points,
alerts over a year, their deliveries, attempts, claims, outcome records and vendor events.

Rows are made by PostgreSQL itself (`INSERT … SELECT … generate_series`), not sent from Python: nothing
crosses the wire but the statements. The big tables' indexes and constraints are dropped before the load and
built again after it from the definitions the migrations made, which is quicker than keeping them up to date
row by row; the loader checks that the end state's definitions equal the migrated ones.

The history ends a day before the load (`HISTORY_GAP`), so the windows the dashboards read by default (the
last hour) hold the bench's own alerts on an empty and on a loaded database alike: what differs is the year
behind them. It is purged as a daily purge would have left it, a month short: the purge then has a month of
clips (RETENTION_CLIP_DAYS) and a month of ledger texts (RETENTION_MESSAGE_DAYS) to remove.
"""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from nootification.config import Config

# Tables whose indexes and constraints are built after their rows, in this order of loading.
BIG_TABLES = ("alerts", "deliveries", "delivery_attempts", "outcome_records")
SMALL_TABLES = ("locations", "users", "user_locations", "contact_points")
HISTORY_SPAN = timedelta(days=365)
HISTORY_GAP = timedelta(days=1)
# How much of the retention the purge finds still to do: a month of each.
PURGE_BACKLOG = timedelta(days=30)
# One channel per (alert, person), by (alert id + slot) % 10: mostly push, some SMS, some Slack.
CHANNEL_CASE = "CASE WHEN x % 10 < 7 THEN 'push' WHEN x % 10 < 9 THEN 'sms' ELSE 'slack' END"
OUTCOMES = ("theft_stopped", "theft_not_stopped", "false_alarm", "not_found")


@dataclass(frozen=True)
class Sizes:
    """How big a chain: shops, staff (spread evenly over the shops), alerts over the year, and deliveries
    per alert (each to a different member of its shop's staff)."""

    shops: int = 2_000
    staff: int = 60_000
    alerts: int = 2_000_000
    deliveries_per_alert: int = 10

    def __post_init__(self) -> None:
        if self.staff < self.shops or self.deliveries_per_alert > self.staff // self.shops:
            raise ValueError("every shop needs at least deliveries-per-alert members of staff")


@dataclass(frozen=True)
class Schema:
    """The big tables' constraints and indexes, as PostgreSQL prints their definitions."""

    constraints: tuple[tuple[str, str, str, str], ...]  # (table, name, type, definition)
    indexes: tuple[tuple[str, str, str], ...]  # (table, name, definition)


def read_schema(connection: psycopg.Connection) -> Schema:
    """The constraints and the other indexes of BIG_TABLES, and of the foreign keys that point at them."""
    constraints = connection.execute(
        """SELECT c.conrelid::regclass::text, c.conname, c.contype::text, pg_get_constraintdef(c.oid)
           FROM pg_constraint c
           WHERE c.contype IN ('p', 'u', 'f')
             AND (c.conrelid::regclass::text = ANY(%(tables)s)
                  OR c.confrelid::regclass::text = ANY(%(tables)s))
           ORDER BY 1, 2""",
        {"tables": list(BIG_TABLES)},
    ).fetchall()
    indexes = connection.execute(
        """SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = current_schema() AND i.tablename = ANY(%(tables)s)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
           ORDER BY 1, 2""",
        {"tables": list(BIG_TABLES)},
    ).fetchall()
    return Schema(tuple(map(tuple, constraints)), tuple(map(tuple, indexes)))


def drop_schema(connection: psycopg.Connection, schema: Schema) -> None:
    """Drop the foreign keys, then the keys and unique constraints, then the indexes."""
    for kind in ("f", "u", "p"):
        for table, name, contype, _ in schema.constraints:
            if contype == kind:
                connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _, name, _ in schema.indexes:
        connection.execute(f'DROP INDEX "{name}"')


def build_schema(connection: psycopg.Connection, schema: Schema) -> None:
    """Build again what drop_schema dropped: keys first, since the foreign keys need them."""
    for kind in ("p", "u", "f"):
        for table, name, contype, definition in schema.constraints:
            if contype == kind:
                connection.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _, _, definition in schema.indexes:
        connection.execute(definition)


def _statements(sizes: Sizes, end: datetime) -> list[tuple[str, str]]:
    """Each table's INSERT, in an order that satisfies the foreign keys."""
    per_shop = sizes.staff // sizes.shops
    start = end - HISTORY_SPAN
    step = HISTORY_SPAN.total_seconds() / sizes.alerts
    # Before these the history is purged already, as the daily purge would have left it.
    clips = (end + HISTORY_GAP - timedelta(days=Config.RETENTION_CLIP_DAYS) - PURGE_BACKLOG).isoformat()
    messages = (end + HISTORY_GAP - timedelta(days=Config.RETENTION_MESSAGE_DAYS) - PURGE_BACKLOG).isoformat()
    # The person of slot k (0 ≤ k < per_shop) at shop s: users are dealt out to the shops in turn.
    staff = f"a.location_id + {sizes.shops} * ((a.id + k) % {per_shop})"
    outcomes = "(ARRAY['" + "','".join(OUTCOMES) + "'])"
    return [
        (
            "locations",
            f"""INSERT INTO locations (id, name, display_name, timezone)
                SELECT s, 'chain-' || lpad(s::text, 5, '0'), 'Chain shop ' || s, 'Europe/Paris'
                FROM generate_series(1, {sizes.shops}) s""",
        ),
        (
            "users",
            f"""INSERT INTO users (id, user_uuid, name, level)
                SELECT u, gen_random_uuid()::text, 'Staff ' || u, 'STANDARD'
                FROM generate_series(1, {sizes.staff}) u""",
        ),
        (
            "user_locations",
            f"""INSERT INTO user_locations (user_id, location_id)
                SELECT u, (u - 1) % {sizes.shops} + 1 FROM generate_series(1, {sizes.staff}) u""",
        ),
        (
            "contact_points",
            f"""INSERT INTO contact_points (user_id, channel, address, options, enabled)
                SELECT u, c.channel, CASE c.channel WHEN 'sms' THEN '+3361' || lpad(u::text, 7, '0')
                                                    WHEN 'slack' THEN 'U' || u END, '{{}}', true
                FROM generate_series(1, {sizes.staff}) u
                CROSS JOIN (VALUES ('push'), ('sms'), ('slack')) AS c(channel)""",
        ),
        (
            "alerts",
            f"""INSERT INTO alerts (id, alert_uuid, url, clip_removed_at, messages_removed_at, location_id,
                    label, severity, time_spotted, received_at, claimed_by_id, claimed_at, outcome,
                    outcome_value_cents, outcome_by_id, outcome_at, escalation_step, ladder_step)
                SELECT a.id, gen_random_uuid()::text,
                    CASE WHEN a.t >= '{clips}' THEN 'https://media.example.com/' || a.id || '.mp4' END,
                    CASE WHEN a.t < '{clips}' THEN a.t + interval '{Config.RETENTION_CLIP_DAYS} days' END,
                    CASE WHEN a.t < '{messages}'
                         THEN a.t + interval '{Config.RETENTION_MESSAGE_DAYS} days' END,
                    a.location_id,
                    CASE WHEN a.id % 2 = 0 THEN 'theft' ELSE 'loitering' END,
                    CASE WHEN a.id % 2 = 0 THEN 'critical' ELSE 'standard' END,
                    a.t - interval '2 seconds', a.t,
                    CASE WHEN a.id % 10 < 6 THEN {staff.replace("k", "0")} END,
                    CASE WHEN a.id % 10 < 6 THEN a.t + interval '40 seconds' END,
                    CASE WHEN a.id % 10 < 4 THEN {outcomes}[a.id % 4 + 1] END,
                    CASE WHEN a.id % 10 < 4 THEN (a.id % 50) * 100 END,
                    CASE WHEN a.id % 10 < 4 THEN {staff.replace("k", "0")} END,
                    CASE WHEN a.id % 10 < 4 THEN a.t + interval '5 minutes' END,
                    0, 0
                FROM (SELECT g AS id, (g - 1) % {sizes.shops} + 1 AS location_id,
                             timestamptz '{start.isoformat()}' + (g - 1) * interval '{step} seconds' AS t
                      FROM generate_series(1, {sizes.alerts}) g) a""",
        ),
        (
            "deliveries",
            f"""INSERT INTO deliveries (id, kind, alert_id, user_id, channel, contact_point_id, status,
                    attempts, last_error, created_at, queued_at, sent_at, updated_at, deadline_at,
                    retry_round,
                    enqueue_count, escalation_step, ladder_step, delivered_at, seen_at)
                SELECT gen_random_uuid()::text, 'alert', a.id, {staff},
                    {CHANNEL_CASE.replace("x", "(a.id + k)")}, 0, d.status,
                    CASE WHEN d.status = 'cancelled' THEN 0 ELSE 1 END,
                    CASE WHEN d.status = 'failed' AND a.messages_removed_at IS NULL
                         THEN 'HTTP 500: provider error' END,
                    a.received_at + interval '5 milliseconds', a.received_at + interval '6 milliseconds',
                    CASE WHEN d.status = 'sent' THEN a.received_at + interval '80 milliseconds' END,
                    a.received_at + interval '80 milliseconds', a.received_at + interval '120 seconds', 0,
                    CASE WHEN d.status = 'cancelled' THEN 0 ELSE 1 END, 0, 0,
                    CASE WHEN d.status = 'sent' AND k % 2 = 0 THEN a.received_at + interval '1 second' END,
                    CASE WHEN d.status = 'sent' AND k % 4 = 0 THEN a.received_at + interval '20 seconds' END
                FROM alerts a CROSS JOIN generate_series(0, {sizes.deliveries_per_alert - 1}) k
                CROSS JOIN LATERAL (SELECT CASE WHEN (a.id * 7 + k * 131) % 1000 < 970 THEN 'sent'
                                                WHEN (a.id * 7 + k * 131) % 1000 < 985 THEN 'failed'
                                                WHEN (a.id * 7 + k * 131) % 1000 < 995 THEN 'expired'
                                                ELSE 'cancelled' END AS status) d""",
        ),
        (
            "deliveries (vendor events)",
            """INSERT INTO deliveries (id, kind, alert_id, user_id, channel, contact_point_id, status,
                    attempts, created_at, queued_at, sent_at, updated_at, retry_round, enqueue_count)
                SELECT gen_random_uuid()::text, 'vendor_event', a.id, NULL, 'vendor', 0, 'sent', 1,
                    a.outcome_at, a.outcome_at, a.outcome_at + interval '50 milliseconds',
                    a.outcome_at + interval '50 milliseconds', 1, 1
                FROM alerts a WHERE a.outcome IS NOT NULL""",
        ),
        (
            "delivery_attempts",
            """INSERT INTO delivery_attempts (delivery_id, number, started_at, finished_at, outcome,
                    http_status, error_class, error_message, latency_ms, provider_ref, provider_status,
                    provider_status_at)
                SELECT d.id, 1, d.queued_at, d.updated_at,
                    CASE d.status WHEN 'sent' THEN 'sent' ELSE 'permanent' END,
                    CASE d.status WHEN 'sent' THEN 200 ELSE 500 END,
                    CASE WHEN d.status <> 'sent' THEN 'ProviderError' END,
                    d.last_error, 74.0,
                    CASE WHEN d.channel IN ('sms', 'slack') AND a.messages_removed_at IS NULL
                         THEN d.channel || ':' || left(d.id, 8) END,
                    CASE WHEN d.channel = 'sms' AND d.status = 'sent' THEN 'delivered' END,
                    CASE WHEN d.channel = 'sms' AND d.status = 'sent'
                         THEN d.sent_at + interval '2 seconds' END
                FROM deliveries d JOIN alerts a ON a.id = d.alert_id
                WHERE d.status <> 'cancelled'""",
        ),
        (
            "outcome_records",
            """INSERT INTO outcome_records (alert_id, user_id, outcome, value_cents, recorded_at)
                SELECT id, outcome_by_id, outcome, outcome_value_cents, outcome_at
                FROM alerts WHERE outcome IS NOT NULL""",
        ),
    ]


def _reset_sequences(connection: psycopg.Connection) -> None:
    for table in ("locations", "users", "contact_points", "alerts", "delivery_attempts", "outcome_records"):
        following = f"(SELECT coalesce(max(id), 0) + 1 FROM {table})"
        connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {following}, false)")


def load(url: str, sizes: Sizes, *, end: datetime | None = None, log=print) -> dict:
    """Fill the migrated, empty database at `url` (a psycopg URL) with a chain's history; what it took: each
    step's seconds, the rows of each table, and the database's size on disk."""
    end = end or datetime.now(UTC) - HISTORY_GAP
    seconds: dict[str, float] = {}
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as connection:
        if connection.execute("SELECT count(*) FROM alerts").fetchone()[0]:
            raise ValueError("the database already holds alerts: load into an empty one")
        connection.execute("SET maintenance_work_mem = '512MB'")
        connection.execute("SET synchronous_commit = off")
        migrated = read_schema(connection)
        drop_schema(connection, migrated)
        for table, statement in _statements(sizes, end):
            moment = time.monotonic()
            connection.execute(statement)
            seconds[table] = round(time.monotonic() - moment, 1)
            log(f"history: {table} in {seconds[table]} s")
        _reset_sequences(connection)
        moment = time.monotonic()
        build_schema(connection, migrated)
        seconds["indexes and constraints"] = round(time.monotonic() - moment, 1)
        log(f"history: indexes and constraints in {seconds['indexes and constraints']} s")
        if read_schema(connection) != migrated:
            raise RuntimeError("the loaded database's indexes or constraints differ from the migrated ones")
        moment = time.monotonic()
        connection.execute("VACUUM ANALYZE")
        seconds["vacuum analyze"] = round(time.monotonic() - moment, 1)
        seconds["total"] = round(time.monotonic() - started, 1)
        loaded = {"sizes": sizes.__dict__, "seconds": seconds}
        # Kept with the database, for a later run that reuses it.
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(connection.info.dbname), sql.Literal(json.dumps(loaded))
            )
        )
        return loaded | disk_usage(connection)


def previous_load(connection: psycopg.Connection) -> dict:
    """What loading this database took, as `load` recorded it (empty if it did not)."""
    comment = connection.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    ).fetchone()[0]
    return json.loads(comment) if comment else {}


def disk_usage(connection: psycopg.Connection) -> dict:
    """The database's size on disk and each table's rows and size (indexes included), in MB."""
    database = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    tables = {}
    for table in (*SMALL_TABLES, *BIG_TABLES):
        rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        total, indexes = connection.execute(
            "SELECT pg_total_relation_size(%s::regclass), pg_indexes_size(%s::regclass)", (table, table)
        ).fetchone()
        tables[table] = {
            "rows": rows,
            "total_mb": round(total / 2**20, 1),
            "indexes_mb": round(indexes / 2**20, 1),
        }
    return {"database_mb": round(database / 2**20, 1), "tables": tables}


def rearm_purge(url: str, *, now: datetime | None = None) -> dict:
    """Put back what a purge removed from the month before each retention cutoff, so that a reused database
    gives the purge the same month to remove: the clips, the failed deliveries' and attempts' errors and the
    SMS and Slack attempts' provider references. What it put back, and how long that took."""
    now = now or datetime.now(UTC)
    clips = now - timedelta(days=Config.RETENTION_CLIP_DAYS)
    messages = now - timedelta(days=Config.RETENTION_MESSAGE_DAYS)
    started = time.monotonic()
    with psycopg.connect(url) as connection:
        month = {"clips_from": clips - PURGE_BACKLOG, "clips_to": clips}
        month |= {"messages_from": messages - PURGE_BACKLOG, "messages_to": messages}
        alerts = connection.execute(
            """UPDATE alerts SET clip_removed_at = NULL, url = 'https://media.example.com/' || id || '.mp4'
               WHERE received_at >= %(clips_from)s AND received_at < %(clips_to)s
                 AND clip_removed_at IS NOT NULL""",
            month,
        ).rowcount
        deliveries = connection.execute(
            """UPDATE deliveries d SET last_error = 'HTTP 500: provider error' FROM alerts a
               WHERE a.id = d.alert_id
                 AND a.received_at >= %(messages_from)s AND a.received_at < %(messages_to)s
                 AND a.messages_removed_at IS NOT NULL AND d.status = 'failed'""",
            month,
        ).rowcount
        attempts = connection.execute(
            """UPDATE delivery_attempts t
               SET provider_ref = CASE WHEN d.channel IN ('sms', 'slack')
                                       THEN d.channel || ':' || left(d.id, 8) END,
                   error_message = CASE WHEN d.status = 'failed' THEN 'HTTP 500: provider error' END
               FROM deliveries d JOIN alerts a ON a.id = d.alert_id
               WHERE t.delivery_id = d.id AND (d.channel IN ('sms', 'slack') OR d.status = 'failed')
                 AND a.received_at >= %(messages_from)s AND a.received_at < %(messages_to)s
                 AND a.messages_removed_at IS NOT NULL""",
            month,
        ).rowcount
        connection.execute(
            """UPDATE alerts SET messages_removed_at = NULL
               WHERE received_at >= %(messages_from)s AND received_at < %(messages_to)s
                 AND messages_removed_at IS NOT NULL""",
            month,
        )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE alerts, deliveries, delivery_attempts")
    seconds = round(time.monotonic() - started, 1)
    return {"clips": alerts, "deliveries": deliveries, "attempts": attempts, "seconds": seconds}


def empty_schema(url: str) -> None:
    """Drop every table, view and sequence of the database's public schema: a database with nothing in it."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def forget_later_runs(url: str) -> dict:
    """Delete the alerts and shops earlier bench runs added to a loaded database (the rows past the history's,
    by id): their alerts would otherwise fill the dashboards' last hour on the loaded database only."""
    with psycopg.connect(url) as connection:
        sizes = previous_load(connection).get("sizes")
        if not sizes:
            raise ValueError("the database holds no record of its load: load it again")
        alerts = connection.execute("DELETE FROM alerts WHERE id > %s", (sizes["alerts"],)).rowcount
        connection.execute("DELETE FROM deliveries WHERE alert_id IS NULL")
        # Their staff stay: deleting a user sets the alerts' claimed_by_id and outcome_by_id to NULL, which
        # reads every alert of the year (no index) per user.
        shops = connection.execute("DELETE FROM locations WHERE id > %s", (sizes["shops"],)).rowcount
    return {"alerts": alerts, "shops": shops}
