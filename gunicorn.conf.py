"""Settings every gunicorn of this project loads from the working directory: metrics bookkeeping."""

import os

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    """Forget an exited worker's live gauges when processes share metrics through PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
