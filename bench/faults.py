"""Faults the chaos run injects into a running stack, each for a while, in a thread of its own."""

import os
import signal
import sqlite3
import threading
import time

import psycopg
from sqlalchemy.engine import make_url

from bench.stack import Stack


def killed_in_turn(stack: Stack) -> tuple[str, ...]:
    """Every process of the quick start but the stub, whose records of what it received are the evidence."""
    return ("api", f"worker-{stack.worker_count - 1}", "scheduler", "redis")


def in_background(action, *arguments) -> threading.Thread:
    """Run `action(*arguments)` in a daemon thread; the caller joins it before it counts anything."""
    thread = threading.Thread(target=action, args=arguments, daemon=True)
    thread.start()
    return thread


LOCK_TRIES = 5


def hold_write_lock(stack: Stack, seconds: float) -> None:
    """Hold the database's write lock for `seconds`: SQLite's (BEGIN IMMEDIATE), or on PostgreSQL a lock that
    blocks every write to the deliveries, their attempts and the alerts."""
    url = make_url(stack.env["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database, isolation_level=None, timeout=30)
        connection.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        connection.execute("ROLLBACK")
        connection.close()
        return
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        # In the order the service writes them (an alert, then its deliveries, then their attempts); should
        # PostgreSQL still pick this lock as a deadlock's victim, it is taken again.
        for _ in range(LOCK_TRIES):
            try:
                connection.execute("LOCK TABLE alerts, deliveries, delivery_attempts IN EXCLUSIVE MODE")
                break
            except psycopg.errors.DeadlockDetected:
                connection.rollback()
        time.sleep(seconds)


def pause_redis(stack: Stack, seconds: float) -> None:
    """Stop Redis with SIGSTOP for `seconds`, then let it go on (a stall, not a crash)."""
    pid = stack.processes["redis"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def kill_in_turn(stack: Stack, pause: float) -> None:
    """SIGKILL each process of `killed_in_turn` and start it again, as supervisord would, `pause` s apart."""
    for name in killed_in_turn(stack):
        process = stack.processes[name]
        os.killpg(process.pid, signal.SIGKILL)  # gunicorn's workers with their master
        process.wait(timeout=10)
        stack.processes.pop(name)
        stack.restart(name)
        time.sleep(pause)
