"""Whether the service's dependencies answer."""

import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from nootification.extensions import db, redis_queue


def _check_database() -> None:
    db.session.execute(sa.text("SELECT 1"))
    db.session.rollback()


def _check_redis() -> None:
    redis_queue.connection.ping()


CHECKS = {"database": (_check_database, SQLAlchemyError), "redis": (_check_redis, RedisError)}


def check_health() -> tuple[bool, dict]:
    """Run each component's check; return whether all passed and each one's status."""
    components = {}
    for name, (check, failure) in CHECKS.items():
        try:
            check()
        except failure as error:
            components[name] = {"status": "failing", "error": type(error).__name__}
        else:
            components[name] = {"status": "ok"}
    healthy = all(component["status"] == "ok" for component in components.values())
    return healthy, components
