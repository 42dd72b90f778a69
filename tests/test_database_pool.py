"""The database pool each process builds: a connection for every sending slot at once, no pre-ping."""

from nootification import create_app
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
