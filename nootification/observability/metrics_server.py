"""The counters' registry and the worker's own `/metrics` server.

With PROMETHEUS_MULTIPROC_DIR set, prometheus-client keeps each process's counters and histograms in files in
that directory and the registry read here adds them all up (observability.metric_files: ended processes'
files folded first); without it, it is this process's own. `flask worker` serves that registry on
METRICS_PORT when one is set: counters only, the state gauges are the API's.
"""

from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from nootification.observability.metric_files import FoldingCollector


def process_registry(multiproc_dir: str) -> CollectorRegistry:
    """The counters and histograms: every process's from `multiproc_dir` when set (those of ended processes
    folded into one file per type first), else this process's."""
    if not multiproc_dir:
        return REGISTRY
    registry = CollectorRegistry()
    FoldingCollector(registry, path=multiproc_dir)
    return registry


def start_metrics_server(config: Mapping) -> WSGIServer | None:
    """Serve this process's metrics on METRICS_ADDR:METRICS_PORT in a thread, when a port is configured."""
    if not config["METRICS_PORT"]:
        return None
    server, _thread = start_http_server(
        config["METRICS_PORT"],
        addr=config["METRICS_ADDR"],
        registry=process_registry(config["PROMETHEUS_MULTIPROC_DIR"]),
    )
    return server
