"""The database pool each process builds: a connection for every sending slot at once, no pre-ping."""

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from nootification import create_app
from nootification.config import dead_peer_arguments
from nootification.extensions import db
from tests.helpers.config import make_config


def test_every_sending_slot_and_the_loop_get_a_connection_at_once(tmp_path):
    app = create_app(
        make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'pool.db'}", WORKER_CONCURRENCY=40)
    )
    with app.app_context():
        db.engine.pool._timeout = 1  # a slot left waiting fails the test within a second, not thirty

        connections = [db.engine.connect() for _ in range(40 + 1)]
        for connection in connections:
            connection.close()

        assert db.engine.pool.size() == app.config["DATABASE_POOL_SIZE"]
        assert db.engine.pool._pre_ping is False


def test_settings_of_its_own_replace_the_sized_pool(tmp_path):
    app = create_app(
        make_config(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'pool.db'}",
            SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 3, "max_overflow": 0},
        )
    )
    with app.app_context():
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (3, 0)


def test_an_in_memory_database_keeps_its_single_shared_connection():
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI="sqlite://"))
    with app.app_context():
        assert db.engine.pool.__class__.__name__ == "StaticPool"


def test_a_postgresql_connection_is_dropped_by_either_end_after_a_silent_peer(tmp_path):
    app = create_app(make_config(DATABASE_DEAD_PEER_SECONDS=12))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("TCP keepalives concern PostgreSQL: the suite's PostgreSQL pass runs this")
    with app.app_context():
        server = {
            name: db.session.scalar(sa.text(f"SHOW {name}"))
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
            )
        }
        client = db.session.connection().connection.dbapi_connection.info.get_parameters()

    assert server == {
        "tcp_keepalives_idle": "6",
        "tcp_keepalives_interval": "2",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "12000",
    }
    assert (client["keepalives_idle"], client["keepalives_count"], client["tcp_user_timeout"]) == (
        "6",
        "3",
        "12000",
    )


def test_options_given_in_the_database_url_are_kept_beside_the_keepalives():
    url = "postgresql+psycopg://nobody@db.invalid/x?options=-c%20statement_timeout%3D5000"
    arguments = dead_peer_arguments(10, make_url(url))
    assert arguments["options"].startswith("-c statement_timeout=5000 -c tcp_keepalives_idle=5 ")
