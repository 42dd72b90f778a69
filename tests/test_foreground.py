"""ops/foreground.py: Ctrl-C in a real (pseudo-)terminal stops `make run` with exit status 0."""

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Stands for supervisord: says it is ready, then exits 0 on SIGINT or SIGTERM, saying which.
PROGRAM = (
    "import signal, sys, time; "
    "signal.signal(signal.SIGINT, lambda *a: sys.exit(0)); "
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(print('SIGTERM', flush=True))); "
    "print('ready', flush=True); time.sleep(30)"
)


def makefile(tmp_path: Path, *, foreground: bool) -> Path:
    """A Makefile whose `run` recipe execs the program, through ops/foreground.py or not."""
    launcher = f"{sys.executable} {ROOT / 'ops' / 'foreground.py'} " if foreground else ""
    (tmp_path / "Makefile").write_text(f'run:\n\t@exec {launcher}{sys.executable} -c "{PROGRAM}"\n')
    return tmp_path


def start_in_terminal(directory: Path) -> tuple[int, int]:
    """`make run` as a terminal's session would run it: (its pid, the terminal's master side)."""
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(directory)
        # As a terminal's shell starts a job: SIGHUP at its default, even under nohup (which ignores it, and
        # an ignored signal stays ignored across exec).
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        os.execvp("make", ["make", "run"])
    output = b""
    deadline = time.monotonic() + 20
    while b"ready" not in output:
        assert time.monotonic() < deadline, output
        if select.select([master], [], [], 0.5)[0]:
            output += os.read(master, 1024)
    return pid, master


def read_all(master: int) -> bytes:
    """What the terminal still has to show."""
    output = b""
    while select.select([master], [], [], 0.5)[0]:
        try:
            output += os.read(master, 1024)
        except OSError:  # the terminal's last process ended
            break
    return output


def exit_status(pid: int) -> int:
    """The process's exit status, as a shell shows it (128 + N when signal N killed it)."""
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        assert time.monotonic() < deadline, "make run did not end"
        time.sleep(0.05)


@pytest.mark.parametrize(("foreground", "status"), [(True, 0), (False, 130)])
def test_ctrl_c_in_a_terminal_stops_make_run_with_the_programs_status(tmp_path, foreground, status):
    # Without the launcher GNU make kills itself with the Ctrl-C once its recipe has ended: 130.
    pid, master = start_in_terminal(makefile(tmp_path, foreground=foreground))
    os.write(master, b"\x03")
    assert exit_status(pid) == status
    os.close(master)


def test_sigterm_to_make_run_reaches_the_program_as_sigterm(tmp_path):
    pid, master = start_in_terminal(makefile(tmp_path, foreground=True))
    launcher = int(os.popen(f"pgrep -P {pid}").read().split()[0])
    os.kill(launcher, signal.SIGTERM)
    assert exit_status(pid) == 0
    assert b"SIGTERM" in read_all(master)
    os.close(master)


def test_closing_the_terminal_stops_the_program(tmp_path):
    pid, master = start_in_terminal(makefile(tmp_path, foreground=True))
    # A closed terminal's shell sends SIGHUP to each of its jobs: make's process group, the launcher's too.
    os.killpg(pid, signal.SIGHUP)
    os.close(master)
    assert exit_status(pid) == 128 + signal.SIGHUP
    assert not os.popen(f"pgrep -s {pid}").read().strip(), "a process of the session outlived the terminal"
