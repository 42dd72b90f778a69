"""Faults the chaos and soak runs inject into a running stack, and the settings that let it ride them out."""

import os
import signal
import sqlite3
import threading
import time

import psycopg
import requests
from sqlalchemy.engine import make_url

from bench.stack import Stack

# Short timeouts and waits so a few minutes of faults drain in seconds, not hours.
SETTINGS = {
    "HTTP_CONNECT_TIMEOUT": "1",
    "HTTP_READ_TIMEOUT": "1",
    "SMTP_TIMEOUT": "1",
    "SEND_RETRY_WAIT": "0.2",
    "RETRY_BACKOFF_BASE": "0.5",
    "RETRY_BACKOFF_CAP": "5",
    "RETRY_AFTER_MAX": "5",
    "SWEEP_INTERVAL": "2",
    "PENDING_GRACE": "3",
    # Longer than the longest outage a live worker sits through (the 30 s Redis stall, the 15 s lock): a lease
    # that ends during one lets the sweeper give a delivery to another worker while its own is about to
    # record it as sent. Short enough that a SIGKILLed worker's deliveries come back within the run.
    "DELIVERY_LEASE": "40",
    "BREAKER_COOLDOWN": "2",
    # Every alert rings: the runs count each accepted alert's deliveries at the providers, so a burst's later
    # alerts summed up at its window's end, or a person's cap, would read as messages missing.
    "GROUP_WINDOW_SECONDS": "0",
    "MAX_MESSAGES_PER_PERSON": "0",
}


def killed_in_turn(stack: Stack) -> tuple[str, ...]:
    """Every process of the quick start but the stub, whose records of what it received are the evidence."""
    return ("api", f"worker-{stack.worker_count - 1}", "scheduler", "redis")


def in_background(action, *arguments) -> threading.Thread:
    """Run `action(*arguments)` in a daemon thread; the caller joins it before it counts anything."""
    thread = threading.Thread(target=action, args=arguments, daemon=True)
    thread.start()
    return thread


def kill_worker(stack: Stack, index: int) -> None:
    """SIGKILL worker number `index`, as a crash would, and start it again."""
    stack.kill(f"worker-{index}")
    stack.start_worker(index)


def provider_errors(stack: Stack, rate: float, seconds: float) -> None:
    """Make the stub answer a share `rate` of every provider's requests with a 500 for `seconds`."""
    control = f"{stack.stub_url}/control"
    requests.put(control, json={"error_rate": rate}, timeout=10).raise_for_status()
    try:
        time.sleep(seconds)
    finally:
        requests.put(control, json={"error_rate": 0}, timeout=10).raise_for_status()


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
