"""The database pool each process builds: a connection for every sending slot at once, no pre-ping."""

import ctypes
import ctypes.util

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from nootification import create_app
from nootification.config import dead_peer_arguments
from nootification.extensions import SQLITE_SOFT_HEAP_LIMIT, db
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


def test_sqlite_connections_share_a_bounded_heap_however_many_the_pool_holds(tmp_path):
    sqlite_library = ctypes.CDLL(ctypes.util.find_library("sqlite3"))  # the one the sqlite3 module loaded
    sqlite_library.sqlite3_memory_used.restype = ctypes.c_int64
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'heap.db'}"))
    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE filler (body TEXT)")
            connection.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000) "
                "INSERT INTO filler SELECT randomblob(2000) || randomblob(2000) FROM n"
            )
        # Each connection reads all 32 MB: unbounded, each would keep its own 2 MB of cached pages.
        connections = [db.engine.connect() for _ in range(24)]
        for connection in connections:
            connection.exec_driver_sql("SELECT count(*), sum(length(body)) FROM filler").one()

        assert sqlite_library.sqlite3_memory_used() <= SQLITE_SOFT_HEAP_LIMIT * 1.25
        for connection in connections:
            connection.close()
