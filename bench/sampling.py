"""Sampling the stack while the bench runs: any probe on a timer, the processes' memory and CPU time."""

import threading
import time
from collections.abc import Callable
from typing import Generic, Self, TypeVar

import psutil

from bench.stack import Stack

T = TypeVar("T")
MB = 1024 * 1024


class Sampler(Generic[T]):
    """Calls `probe` every `interval` s on a daemon thread and keeps (wall-clock time, value) pairs."""

    def __init__(self, probe: Callable[[], T], interval: float):
        self.probe = probe
        self.interval = interval
        self.samples: list[tuple[float, T]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.samples.append((time.time(), self.probe()))
            self._stopped.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()


class StackProcesses:
    """The stack's processes with their descendants (gunicorn's workers), under the stack's name for each.

    Finding descendants scans all of /proc, milliseconds a time, so a group is looked up again only every
    few seconds, or when its process was restarted or one of its processes has gone.
    """

    def __init__(self, stack: Stack, refresh: float = 5.0):
        self.stack = stack
        self.refresh = refresh
        self._groups: dict[str, tuple[float, list[psutil.Process]]] = {}

    def groups(self) -> dict[str, list[psutil.Process]]:
        """Every group, as found at most `refresh` seconds ago."""
        now = time.monotonic()
        for name, popen in self.stack.processes.items():
            found_at, processes = self._groups.get(name, (0.0, []))
            if now - found_at > self.refresh or not processes or processes[0].pid != popen.pid:
                try:
                    parent = psutil.Process(popen.pid)
                    self._groups[name] = (now, [parent, *parent.children(recursive=True)])
                except psutil.Error:
                    self._groups.pop(name, None)  # it is being restarted or has just exited
        return {name: processes for name, (_, processes) in self._groups.items()}

    def rss(self) -> dict[str, list[int]]:
        """The resident set size of every process of each group, in bytes."""
        return self._each(lambda process: process.memory_info().rss)

    def open_fds(self) -> dict[str, list[int]]:
        """How many file descriptors every process of each group holds open."""
        return self._each(lambda process: process.num_fds())

    def _each(self, read: Callable[[psutil.Process], int]) -> dict[str, list[int]]:
        return {
            name: values
            for name, processes in self.groups().items()
            if (values := self._read(name, processes, read))
        }

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each group, by this process as "bench" and by the whole machine."""
        used = {"machine": machine_busy_seconds(), "bench": _cpu(psutil.Process())}
        for name, processes in self.groups().items():
            used[name] = sum(self._read(name, processes, _cpu))
        return used

    def _read(
        self, name: str, processes: list[psutil.Process], read: Callable[[psutil.Process], T]
    ) -> list[T]:
        try:
            return [read(process) for process in processes]
        except psutil.Error:
            self._groups.pop(name, None)  # one has gone: look the group up again next time
            return []


def peak_rss(samples: list[tuple[float, dict[str, list[int]]]]) -> dict[str, dict[str, float]]:
    """Per group: the peak of its processes' summed RSS, and the peak of its largest single process, in MB."""
    peaks: dict[str, dict[str, float]] = {}
    for _, sizes in samples:
        for name, values in sizes.items():
            peak = peaks.setdefault(name, {"total_mb": 0.0, "largest_process_mb": 0.0, "processes": 0})
            peak["total_mb"] = max(peak["total_mb"], sum(values) / MB)
            peak["largest_process_mb"] = max(peak["largest_process_mb"], max(values) / MB)
            peak["processes"] = max(peak["processes"], len(values))
    return peaks


def machine_busy_seconds() -> float:
    """CPU time every process of the machine has used since boot, all cores together."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the machine keeps busy over the next `seconds` (before the bench adds its own load)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system
