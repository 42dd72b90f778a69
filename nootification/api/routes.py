"""`/routes`: which channels each alert label goes out on, per shop or for all (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.routes import RouteSchema, RouteUpdateSchema
from nootification.auth import require_scope
from nootification.services import routing
from nootification.services.tokens import ADMIN

blp = Blueprint("routes", __name__, url_prefix="/routes", description="Routing rules (admin)")
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.response(200, RouteSchema(many=True))
def list_routes():
    """Every rule. Without any rule, an alert goes out on every channel its recipients have."""
    return routing.list_routes()


@blp.route("", methods=["POST"], strict_slashes=False)
@blp.arguments(RouteSchema)
@blp.response(201, RouteSchema)
@blp.alt_response(409, description="A rule for this location and label exists.")
@blp.alt_response(422, description="Unknown label, channel or location.")
def create_route(route: dict):
    """Add a rule: `label` (or "*"), `channels`, and `location` (null for every shop)."""
    return routing.create_route(**route)


@blp.route("/<int(max=2147483647):route_id>", methods=["GET"])
@blp.response(200, RouteSchema)
@blp.alt_response(404, description="No route with this id.")
def read_route(route_id: int):
    """One rule."""
    return routing.get_route(route_id)


@blp.route("/<int(max=2147483647):route_id>", methods=["PUT"])
@blp.arguments(RouteUpdateSchema)
@blp.response(200, RouteSchema)
@blp.alt_response(404, description="No route with this id.")
@blp.alt_response(422, description="Unknown channel.")
def update_route(changes: dict, route_id: int):
    """Change a rule's channels."""
    return routing.update_route(route_id, **changes)


@blp.route("/<int(max=2147483647):route_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No route with this id.")
def delete_route(route_id: int):
    """Remove a rule."""
    routing.delete_route(route_id)
