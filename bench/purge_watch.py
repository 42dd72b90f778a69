"""`flask purge` run as an operator runs it, and how long each of its transactions (each batch) stays open,
seen from PostgreSQL's pg_stat_activity: a batch holds its row locks until it commits, so its transaction's
age is how long it can make a writer wait."""

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import psycopg

from bench.stack import ROOT

APPLICATION_NAME = "bench-volume-purge"
PURGE = ("-m", "flask", "purge")
# pg_stat_activity is read this often: each transaction's age is known to within it.
POLL_INTERVAL = 0.02


@dataclass
class PurgeWatch:
    """`flask purge` running against the database at `url`, its transactions sampled meanwhile."""

    url: str
    env: dict[str, str]
    arguments: tuple[str, ...] = PURGE  # of the Python interpreter
    process: subprocess.Popen | None = None
    started: float = 0.0
    ended: float | None = None
    output: str = ""
    # Each transaction seen, by (backend pid, start): the longest age it was seen at, in seconds.
    transactions: dict[tuple[int, str], float] = field(default_factory=dict)
    _thread: threading.Thread | None = None

    def start(self) -> "PurgeWatch":
        """Start the purge and its watcher."""
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, *self.arguments],
            cwd=ROOT,
            env={**self.env, "PGAPPNAME": APPLICATION_NAME},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            while self.process.poll() is None:
                rows = connection.execute(
                    """SELECT pid, xact_start::text, extract(epoch FROM clock_timestamp() - xact_start)
                       FROM pg_stat_activity WHERE application_name = %s AND xact_start IS NOT NULL""",
                    (APPLICATION_NAME,),
                ).fetchall()
                for pid, start, age in rows:
                    key = (pid, start)
                    self.transactions[key] = max(self.transactions.get(key, 0.0), float(age))
                time.sleep(POLL_INTERVAL)

    def wait(self, timeout: float) -> dict:
        """Wait for the purge to end (stop it after `timeout` s); what it did and its longest transaction."""
        try:
            self.output, _ = self.process.communicate(timeout=timeout)
            finished = self.process.returncode == 0
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.output, _ = self.process.communicate(timeout=30)
            finished = False
        self.ended = time.monotonic()
        self._thread.join(timeout=5)
        ages = sorted(self.transactions.values())
        return {
            "finished": finished,
            "seconds": round(self.ended - self.started, 1),
            "output": self.output.strip()[-500:],
            "transactions_seen": len(ages),
            "longest_transaction_s": round(ages[-1], 3) if ages else None,
            "median_transaction_s": round(ages[len(ages) // 2], 3) if ages else None,
            "sample_interval_s": POLL_INTERVAL,
        }
