"""`GET /health`: the process answers (liveness); `GET /ready`: the service can deliver (readiness)."""

from flask_smorest import Blueprint

from nootification.api.schemas.health import LivenessSchema, ReadinessSchema
from nootification.extensions import limiter
from nootification.monitoring.health import check_readiness

blp = Blueprint("health", __name__, url_prefix="/health", description="Liveness")
limiter.exempt(blp)
ready_blp = Blueprint("ready", __name__, url_prefix="/ready", description="Readiness")
limiter.exempt(ready_blp)


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.doc(security=[])
@blp.response(200, LivenessSchema)
def health():
    """200 whenever the process answers; touches no database, Redis or worker."""
    return {"status": "ok"}


@ready_blp.route("", methods=["GET"], strict_slashes=False)
@ready_blp.doc(security=[])
@ready_blp.response(200, ReadinessSchema)
@ready_blp.alt_response(503, schema=ReadinessSchema, description="A component named in the body is failing.")
def ready():
    """Database, Redis, a live RQ worker and rq-scheduler: 200 when all are ok, 503 naming what failed."""
    ready_now, components = check_readiness()
    return {"status": "ok" if ready_now else "failing", "components": components}, 200 if ready_now else 503
