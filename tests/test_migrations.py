"""The migrations build exactly the schema the models describe, and undo it."""

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nootification.delivery.sweeper import SWEEP_BATCH, stale_conditions
from nootification.extensions import db
from nootification.models import (
    DEAD_LETTER_STATUSES,
    Alert,
    Delivery,
    DeliveryStatus,
    OutcomeRecord,
    User,
    user_locations,
    utcnow,
)


def test_upgrade_matches_the_models_and_downgrade_removes_everything(app):
    flask_migrate.upgrade()
    try:
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []

        flask_migrate.downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}
    finally:
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


@pytest.mark.parametrize(
    "query",
    [
        sa.select(Alert.id).order_by(Alert.received_at.desc()).limit(20),
        sa.select(sa.func.count(Alert.id)).where(Alert.received_at >= sa.bindparam("since")),
    ],
    ids=["newest-alerts", "alerts-since"],
)
def test_alerts_by_received_at_are_read_through_an_index(app, db, query):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan of an empty PostgreSQL table is a sequential scan whatever the indexes")
    plan = _sqlite_plan(db, query)
    assert any("ix_alerts_received_at" in row[-1] for row in plan), plan


def _sqlite_plan(db, query: sa.Select) -> list:
    compiled = query.compile(db.engine, compile_kwargs={"render_postcompile": True})
    parameters = tuple(compiled.params[name] for name in compiled.positiontup)
    return db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters).all()


@pytest.mark.parametrize(
    "query",
    [
        sa.select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.FAILED)
        .order_by(Delivery.created_at.desc(), Delivery.id)
        .limit(50),
        sa.select(Delivery.channel, sa.func.count())
        .where(
            Delivery.status.in_(DEAD_LETTER_STATUSES),
            Delivery.created_at >= sa.bindparam("since", utcnow()),
        )
        .group_by(Delivery.channel),
        sa.select(Delivery.id).where(*stale_conditions(utcnow())).limit(SWEEP_BATCH),
    ],
    ids=["a-status-newest-first", "dead-letters-since", "stale-for-the-sweeper"],
)
def test_deliveries_of_a_status_are_read_by_their_time_through_one_index(app, db, query):
    # A year's history holds millions of sent deliveries and hundreds of thousands of failed ones: the
    # dead-letter list and each metrics scrape must read a status's newest, not all of them, and each sweep
    # the few live ones, not every delivery ever made (bench/volume.py).
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan of an empty PostgreSQL table is a sequential scan whatever the indexes")
    plan = _sqlite_plan(db, query)
    assert any("ix_deliveries_status_created_at" in row[-1] for row in plan), plan


def test_upgrading_a_database_that_holds_alerts_and_deliveries_keeps_them(app):
    # SQLite alters a table by copying it and dropping the old one: with foreign keys enforced, dropping a
    # table other rows refer to failed (the quick start's database could not upgrade to 0012).
    flask_migrate.upgrade(revision="0007")
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text(SEED_0007))
            for statement in SEED_0007_ROWS:
                connection.execute(sa.text(statement))
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            counts = [connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in SEEDED]
        assert counts == [1, 1, 1, 1]
    finally:
        flask_migrate.downgrade(revision="base")
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


SEEDED = ("locations", "users", "alerts", "deliveries")
SEED_0007 = "INSERT INTO locations (id, name, display_name, timezone) VALUES (1, 'shop', 'Shop', 'UTC')"
SEED_0007_ROWS = (
    "INSERT INTO users (id, user_uuid, name, level, locale) VALUES (1, 'u-1', 'Camille', 'standard', 'en')",
    "INSERT INTO user_locations (user_id, location_id) VALUES (1, 1)",
    "INSERT INTO alerts (id, alert_uuid, url, location_id, label, severity, time_spotted, received_at) "
    "VALUES (1, 'a-1', 'https://m.example.com/v.mp4', 1, 'theft', 'critical', CURRENT_TIMESTAMP, "
    "CURRENT_TIMESTAMP)",
    "INSERT INTO deliveries (id, alert_id, user_id, channel, status, attempts, created_at, updated_at, "
    "retry_round, enqueue_count) "
    "VALUES ('d-1', 1, 1, 'push', 'sent', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, 1)",
)


def test_upgrading_ties_each_device_delivery_to_its_users_one_point_and_allows_more_devices(app):
    flask_migrate.upgrade(revision="0013")
    try:
        with db.engine.begin() as connection:
            for statement in (SEED_0007, *SEED_0007_ROWS[:3], *SEED_0013_DEVICES):
                connection.execute(sa.text(statement))
        flask_migrate.upgrade()
        with db.engine.begin() as connection:
            tied = connection.execute(
                sa.text("SELECT id, contact_point_id FROM deliveries ORDER BY id")
            ).all()
            assert [tuple(row) for row in tied] == [("d-sms", 0), ("d-webpush", 7)]
            connection.execute(sa.text(SECOND_DEVICE))
            points = connection.execute(sa.text("SELECT count(*) FROM contact_points")).scalar()
        assert points == 3
    finally:
        flask_migrate.downgrade(revision="base")
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


SEED_0013_DEVICES = (
    "INSERT INTO contact_points (id, user_id, channel, address, options, enabled) "
    "VALUES (7, 1, 'webpush', 'https://fcm.googleapis.com/fcm/send/a', '{}', true)",
    "INSERT INTO contact_points (id, user_id, channel, address, options, enabled) "
    "VALUES (8, 1, 'sms', '+33612345678', '{}', true)",
    *(
        "INSERT INTO deliveries (id, alert_id, user_id, channel, status, attempts, created_at, updated_at, "
        f"retry_round, enqueue_count) VALUES ('d-{channel}', 1, 1, '{channel}', 'sent', 1, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, 1)"
        for channel in ("webpush", "sms")
    ),
)
SECOND_DEVICE = (
    "INSERT INTO contact_points (id, user_id, channel, address, options, enabled) "
    "VALUES (9, 1, 'webpush', 'https://fcm.googleapis.com/fcm/send/b', '{}', true)"
)


SEED_0017_EVENTS = (
    "INSERT INTO outcome_events (id, alert_id, status, attempts, last_error, created_at, next_attempt_at, "
    "lease_expires_at, sent_at) VALUES "
    "('e-pending', 1, 'pending', 2, 'HTTP 503', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL, NULL), "
    "('e-sending', 1, 'sending', 0, NULL, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL), "
    "('e-sent', 1, 'sent', 1, NULL, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL, CURRENT_TIMESTAMP), "
    "('e-failed', 1, 'failed', 20, 'HTTP 500', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL, NULL)"
)


def test_upgrading_moves_the_vendor_events_into_deliveries_under_the_same_ids_and_back(app):
    flask_migrate.upgrade(revision="0017_outcome_history")
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text(SEED_0007))
            for statement in (*SEED_0007_ROWS, SEED_0017_EVENTS):
                connection.execute(sa.text(statement))
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT id, kind, channel, user_id, status, attempts, retry_round FROM deliveries")
            ).all()
            tables = sa.inspect(connection).get_table_names()
        assert sorted(tuple(row) for row in rows) == [
            ("d-1", "alert", "push", 1, "sent", 1, 0),
            ("e-failed", "vendor_event", "vendor", None, "failed", 20, 20),
            ("e-pending", "vendor_event", "vendor", None, "scheduled", 2, 2),
            ("e-sending", "vendor_event", "vendor", None, "sending", 0, 0),
            ("e-sent", "vendor_event", "vendor", None, "sent", 1, 1),
        ]
        assert "outcome_events" not in tables

        flask_migrate.downgrade(revision="0017_outcome_history")
        with db.engine.connect() as connection:
            events = connection.execute(sa.text("SELECT id, status, attempts FROM outcome_events")).all()
            deliveries = connection.execute(sa.text("SELECT id FROM deliveries")).all()
        assert sorted(tuple(row) for row in events) == [
            ("e-failed", "failed", 20),
            ("e-pending", "pending", 2),
            ("e-sending", "sending", 0),
            ("e-sent", "sent", 1),
        ]
        assert [tuple(row) for row in deliveries] == [("d-1",)]
    finally:
        flask_migrate.downgrade(revision="base")
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def test_a_shops_staff_are_read_through_an_index_on_the_shop(app, db):
    # The key of user_locations leads with the user: with a chain's 60,000 staff, each alert's routing and
    # `GET /users?location=` read the whole table without it (bench/volume.py).
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan of an empty PostgreSQL table is a sequential scan whatever the indexes")
    query = sa.select(User.id).join(user_locations).where(user_locations.c.location_id == 1)
    plan = _sqlite_plan(db, query)
    assert any("ix_user_locations_location_id" in row[-1] for row in plan), plan


@pytest.mark.parametrize(
    ("column", "index"),
    [
        (Alert.claimed_by_id, "ix_alerts_claimed_by_id"),
        (Alert.outcome_by_id, "ix_alerts_outcome_by_id"),
        (OutcomeRecord.user_id, "ix_outcome_records_user_id"),
    ],
    ids=["claims", "outcomes", "outcome-records"],
)
def test_erasing_a_person_finds_their_claims_and_outcomes_through_an_index(app, db, column, index):
    # Erasing a person sets these to NULL through their foreign keys: without an index, each erasure read a
    # chain's 2 million alerts (bench/volume.py).
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan of an empty PostgreSQL table is a sequential scan whatever the indexes")
    plan = _sqlite_plan(db, sa.select(column.class_.id).where(column == 1))
    assert any(index in row[-1] for row in plan), plan
