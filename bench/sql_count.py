"""Run a module as `python -m` would, counting the SQL statements each of its processes sends.

    python -m bench.sql_count DIR NAME MODULE [ARGUMENT...]

A listener on every SQLAlchemy engine counts cursor executions (an executemany is one); a daemon thread keeps
the process's total in DIR/NAME.PID.count, rewritten every `INTERVAL` s when it changed. A forked child (a
gunicorn worker) counts from zero in its own file. The service's code is untouched; the bench reads the files
before and after each scenario with `read_counts`.
"""

import atexit
import os
import runpy
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

INTERVAL = 0.1
SUFFIX = ".count"


class StatementCounter:
    """The statements this process has sent, kept in DIR/NAME.PID.count."""

    def __init__(self, directory: Path, name: str):
        self.directory = directory
        self.name = name
        self._lock = threading.Lock()
        self._count = 0
        self._written = -1

    def count(self, *_event_arguments: object) -> None:
        """SQLAlchemy's before_cursor_execute hook: one more statement (the process may send from threads)."""
        with self._lock:
            self._count += 1

    def write(self) -> None:
        """Replace the file with the total when it changed, so a reader never sees half a number."""
        with self._lock:
            count = self._count
        if count == self._written:
            return
        path = self.directory / f"{self.name}.{os.getpid()}{SUFFIX}"
        temporary = path.with_name(f"{path.name}.tmp")
        temporary.write_text(str(count), encoding="ascii")
        os.replace(temporary, path)
        self._written = count

    def start(self) -> None:
        """Count from zero in this process and keep its file fresh from a daemon thread."""
        self._lock = threading.Lock()  # a forked child may have inherited the lock held by another thread
        self._count, self._written = 0, -1
        self.write()
        threading.Thread(target=self._keep_written, name="sql-count", daemon=True).start()

    def _keep_written(self) -> None:
        while True:
            time.sleep(INTERVAL)
            self.write()


def read_counts(directory: Path) -> dict[str, int]:
    """The statements sent so far by each NAME, its processes summed (exited ones keep their last count)."""
    counts: Counter[str] = Counter()
    for path in directory.glob(f"*{SUFFIX}"):
        counts[path.name.split(".", 1)[0]] += int(path.read_text(encoding="ascii"))
    return dict(counts)


def main() -> None:
    """Install the counter, then run MODULE with its arguments as `python -m MODULE ARGUMENT...` would."""
    directory, name, module, *arguments = sys.argv[1:]
    counter = StatementCounter(Path(directory), name)
    event.listen(Engine, "before_cursor_execute", counter.count)
    os.register_at_fork(after_in_child=counter.start)
    atexit.register(counter.write)
    counter.start()
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
