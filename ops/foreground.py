"""Run a command as the terminal's foreground process group, so Ctrl-C reaches it and not its parent.

`make run` ends with this around supervisord. A terminal sends Ctrl-C's SIGINT to its foreground process
group; were make in it, GNU make would kill itself with that signal once supervisord had stopped everything
(the shell would show 130). Here only supervisord's group gets it, so make exits with supervisord's own
status: 0 after a requested stop. SIGTERM or SIGHUP (the terminal closed) to this process stops the command
the same way, with SIGTERM, instead of leaving its programs behind.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Sequence


def controlling_terminal() -> int | None:
    """The descriptor of the terminal this process reads from, if it is one."""
    return sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None


def run(command: Sequence[str]) -> int:
    """Run the command in a process group of its own, in the terminal's foreground; its exit status."""
    terminal = controlling_terminal()
    child = subprocess.Popen(command, process_group=0)

    def stop(signum, frame) -> None:
        child.send_signal(signal.SIGTERM)

    def interrupt(signum, frame) -> None:
        child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGINT, interrupt)  # without a terminal, a SIGINT to this process is passed on
    if terminal is not None:
        # Taking the terminal back later happens from the background, which would stop this process.
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(terminal, child.pid)
    try:
        status = child.wait()
    finally:
        if terminal is not None:
            os.tcsetpgrp(terminal, os.getpgrp())
    return status if status >= 0 else 128 - status


def main(argv: Sequence[str] | None = None) -> None:
    """`python ops/foreground.py COMMAND [ARG...]`."""
    command = list(sys.argv[1:] if argv is None else argv)
    if not command or command[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\nusage: python ops/foreground.py COMMAND [ARG...]")
        sys.exit(0 if command else 2)
    sys.exit(run(command))


if __name__ == "__main__":
    main()
