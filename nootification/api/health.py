"""`GET /health`: whether the database and Redis answer."""

from flask_smorest import Blueprint

from nootification.extensions import limiter
from nootification.schemas import HealthSchema
from nootification.services.health import check_health

blp = Blueprint("health", __name__, url_prefix="/health", description="Service health")
limiter.exempt(blp)


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.doc(security=[])
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="A component named in the body is failing.")
def health():
    """Per-component status: 200 when all answer, 503 naming what failed."""
    healthy, components = check_health()
    return {"status": "ok" if healthy else "failing", "components": components}, 200 if healthy else 503
