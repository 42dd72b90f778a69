"""The multiprocess metrics directory kept as small as its live processes, and read consistently.

prometheus-client writes each process's counters and histograms to `<type>_<pid>.db` in
PROMETHEUS_MULTIPROC_DIR, and a scrape adds every file up. A process that ends leaves its files, and they must
go on counting (a counter that went down would read as a reset), so a host whose processes restart collects
files, and each scrape reads them all: its cost would grow with every restart for as long as the host runs.

Before each scrape, the files of processes no longer alive are folded into one file per type,
`<type>_archive.db`, which holds their sums. The fold holds an exclusive lock that scrapes take shared, so
that no scrape sees a value twice or not at all, and it keeps a journal, so that one killed half-way is
finished (or undone) by the next rather than counting a process twice. Only the processes of one host (one
PID namespace) may share the directory: a process is known dead by its PID.
"""

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

LOCK_FILE = "folding.lock"
JOURNAL_FILE = "folding.journal"
PROCESS_FILE = re.compile(r"^(counter|histogram)_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextmanager
def _locked(directory: str, kind: int) -> Iterator[None]:
    with open(os.path.join(directory, LOCK_FILE), "a") as lock:
        fcntl.flock(lock, kind)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _archive(directory: str, kind: str) -> str:
    return os.path.join(directory, f"{kind}_archive.db")


def _sums(paths: list[str]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for path in paths:
        for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(path):
            sums[key] = sums.get(key, 0.0) + value
    return sums


def _finish_journal(directory: str) -> None:
    """Complete or undo a fold that was killed: its new archives renamed in place, its folded files gone."""
    path = os.path.join(directory, JOURNAL_FILE)
    if not os.path.exists(path):
        return
    with open(path) as journal:
        folded: dict[str, list[str]] = json.load(journal)
    for kind, files in folded.items():
        replacement = _archive(directory, kind) + ".new"
        if os.path.exists(replacement):  # killed before its rename: nothing of this kind was folded yet
            os.remove(replacement)
            continue
        for name in files:
            if os.path.exists(os.path.join(directory, name)):
                os.remove(os.path.join(directory, name))
    os.remove(path)


def fold_ended_processes(directory: str) -> int:
    """Fold the counter and histogram files of processes no longer alive into their type's archive file;
    how many files were folded."""
    with _locked(directory, fcntl.LOCK_EX):
        _finish_journal(directory)
        ended: dict[str, list[str]] = {}
        for name in sorted(os.listdir(directory)):
            match = PROCESS_FILE.match(name)
            if match and not _alive(int(match[2])):
                ended.setdefault(match[1], []).append(name)
        if not ended:
            return 0
        for kind, names in ended.items():
            archive = _archive(directory, kind)
            existing = [archive] if os.path.exists(archive) else []
            sums = _sums(existing + [os.path.join(directory, name) for name in names])
            if os.path.exists(archive + ".new"):  # left by a fold killed before its journal: never used
                os.remove(archive + ".new")
            replacement = MmapedDict(archive + ".new")
            for key, value in sums.items():
                replacement.write_value(key, value, 0.0)
            replacement.close()
        journal = os.path.join(directory, JOURNAL_FILE)
        with open(journal + ".new", "w") as written:
            json.dump(ended, written)
        os.replace(journal + ".new", journal)
        for kind in ended:
            os.replace(_archive(directory, kind) + ".new", _archive(directory, kind))
        _finish_journal(directory)
        return sum(len(names) for names in ended.values())


class FoldingCollector(MultiProcessCollector):
    """Every process's counters and histograms, the ended ones' folded first, read under the shared lock."""

    def collect(self):
        """Fold the ended processes' files, then add up every file while no fold runs."""
        fold_ended_processes(self._path)
        with _locked(self._path, fcntl.LOCK_SH):
            return list(super().collect())
