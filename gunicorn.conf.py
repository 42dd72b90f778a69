"""Settings every gunicorn of this project loads from the working directory: start-up notices, metrics."""

import os

from prometheus_client import multiprocess

from nootification.config import Config


def when_ready(server) -> None:
    """Say once, from the master, when alerts are accepted without a signature or token."""
    if Config.ALLOW_UNAUTHENTICATED_ALERTS:
        server.log.warning("ALLOW_UNAUTHENTICATED_ALERTS is on: unsigned alerts without a token are accepted")


def child_exit(server, worker) -> None:
    """Forget an exited worker's live gauges when processes share metrics through PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
