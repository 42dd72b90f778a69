"""`GET /stats`: alerts and deliveries over a recent window, per shop, with latency percentiles (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.stats import StatsQuerySchema, StatsSchema
from nootification.auth import require_scope
from nootification.services.stats import collect_stats
from nootification.services.tokens import ADMIN

blp = Blueprint("stats", __name__, url_prefix="/stats", description="Statistics over a window (admin)")
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200, StatsSchema)
@blp.alt_response(404, description="No location with this name.")
def read_stats(query: dict):
    """Counts by status, channel, label and severity, per location, and p50/p95/p99 latencies."""
    return collect_stats(**query)
