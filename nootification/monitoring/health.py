"""Whether the service can deliver: its database, Redis, at least one live worker and the scheduler."""

import time
from collections.abc import Callable
from typing import NamedTuple

import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from nootification.delivery.queue import delivery_queue, live_schedulers, live_workers
from nootification.extensions import db, redis_queue

OK = "ok"
FAILING = "failing"


class ComponentDown(Exception):
    """A component answered, and what it said means it cannot do its part."""


class Check(NamedTuple):
    """One component's check: returns a detail or raises; `needs` names a component it reads through."""

    run: Callable[[], str | None]
    failures: tuple[type[Exception], ...]
    needs: str | None = None


def _check_database() -> None:
    db.session.execute(sa.text("SELECT 1"))
    db.session.rollback()


def _check_redis() -> None:
    redis_queue.connection.ping()


def _check_workers() -> str:
    workers = live_workers()
    if not workers:
        raise ComponentDown(f"no live RQ worker on the {delivery_queue().name} queue")
    beats = [worker.last_heartbeat.timestamp() for worker in workers if worker.last_heartbeat]
    oldest = max((time.time() - beat for beat in beats), default=0.0)
    return f"{len(workers)} alive, oldest heartbeat {oldest:.0f} s ago"


def _check_scheduler() -> str:
    alive = live_schedulers(redis_queue.connection)
    if not alive:
        raise ComponentDown("no live rq-scheduler")
    return f"{alive} alive"


CHECKS = {
    "database": Check(_check_database, (SQLAlchemyError,)),
    "redis": Check(_check_redis, (RedisError,)),
    "workers": Check(_check_workers, (RedisError,), needs="redis"),
    "scheduler": Check(_check_scheduler, (RedisError,), needs="redis"),
}


def _component(check: Check) -> dict:
    try:
        detail = check.run()
    except ComponentDown as error:
        return {"status": FAILING, "error": str(error)}
    except check.failures as error:
        # The exception's class names the failure without leaking addresses or credentials.
        return {"status": FAILING, "error": type(error).__name__}
    return {"status": OK, "detail": detail} if detail else {"status": OK}


def check_readiness() -> tuple[bool, dict]:
    """Run each component's check; return whether all passed and each one's status."""
    components: dict[str, dict] = {}
    for name, check in CHECKS.items():
        if check.needs and components[check.needs]["status"] != OK:
            # Asking Redis about workers when Redis is down would only wait for the same timeout again.
            components[name] = {"status": FAILING, "error": f"{check.needs} is failing"}
        else:
            components[name] = _component(check)
    ready = all(component["status"] == OK for component in components.values())
    return ready, components
