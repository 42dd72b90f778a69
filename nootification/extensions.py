"""Unbound extensions, initialised by the application factory."""

import sqlite3

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from redis import Redis
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from nootification.config import engine_options
from nootification.redis_connection import connect
from nootification.sql_functions import register_sqlite_functions

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every model; constraints are named so migrations can drop them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# SQLite keeps a page cache of up to 2 MB in each open connection, and the pool may hold dozens in a worker
# (a connection for each sending slot at once); glibc keeps what they freed. Past this many bytes of SQLite's
# memory in the process, it reuses cached pages instead of allocating more: the file's pages stay in the
# operating system's cache, which is shared and given back under pressure.
SQLITE_SOFT_HEAP_LIMIT = 16 * 2**20

# Where the app keeps the function that names the token a request authenticates with (auth's token_identity):
# extensions cannot import auth, which imports them.
IDENTITY_KEY = "nootification.identity"


def client_identity() -> str:
    """Whom a rate limit counts against: the token the request authenticates with, else the client address.

    A bearer value that authenticates no live token counts as its address: otherwise each made-up value
    would get a limit of its own.
    """
    return current_app.extensions[IDENTITY_KEY]() or "address:" + (request.remote_addr or "unknown")


# Objects stay readable after a commit without a reload: a request or a job reads what it just wrote.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
# The default limit is read from the current app's config on each request, not fixed at init_app:
# flask-limiter keeps the first app's defaults otherwise.
limiter = Limiter(key_func=client_identity, default_limits=[lambda: current_app.config["RATELIMIT_DEFAULT"]])


def register_database(app: Flask) -> None:
    """SQLAlchemy with its pool sized for this process (config.engine_options), and the migrations."""
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIRECTORY"])


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _connection_record) -> None:
    # The API and the workers are separate processes sharing one SQLite file: WAL lets readers
    # and one writer proceed together, and foreign keys are off by default in SQLite.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute(f"PRAGMA soft_heap_limit={SQLITE_SOFT_HEAP_LIMIT}")  # process-wide
        cursor.close()
        register_sqlite_functions(dbapi_connection)


class RedisQueue:
    """Holds the Redis connection of one application, in `app.extensions` (its queue: delivery.queue)."""

    extension_name = "nootification.redis"

    def init_app(self, app: Flask) -> None:
        """Connect lazily to `REDIS_URL` (a Sentinel URL: its current primary); refuse one it cannot read."""
        connection = connect(app.config["REDIS_URL"])
        app.extensions[self.extension_name] = {"connection": connection}

    def connection_of(self, app: Flask) -> Redis:
        """The application's Redis connection, outside its context."""
        return app.extensions[self.extension_name]["connection"]

    @property
    def connection(self) -> Redis:
        """The current application's Redis connection."""
        return self.connection_of(current_app)


redis_queue = RedisQueue()
