"""The migrations build exactly the schema the models describe, and undo it."""

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nootification.extensions import db
from nootification.models import Alert


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
    compiled = query.compile(db.engine)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup)
    plan = db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters).all()
    assert any("ix_alerts_received_at" in row[-1] for row in plan), plan
