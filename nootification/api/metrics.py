"""`GET /metrics`: the Prometheus text exposition, kept out of the OpenAPI document."""

from flask import Blueprint, Response

from nootification.monitoring.metrics import state_collector
from nootification.observability.metrics import render_metrics

blp = Blueprint("metrics", __name__)


@blp.get("/metrics")
def metrics() -> Response:
    """Every process's counters and histograms, and the queue, workers and dead letters read now."""
    body, content_type = render_metrics(state_collector())
    return Response(body, content_type=content_type)
