"""`/locations`: the shops alerts refer to (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.locations import LocationSchema, LocationUpdateSchema
from nootification.auth import require_scope
from nootification.services import directory
from nootification.services.tokens import ADMIN

blp = Blueprint("locations", __name__, url_prefix="/locations", description="Shops (admin)")
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.response(200, LocationSchema(many=True))
def list_locations():
    """Every shop."""
    return directory.list_locations()


@blp.route("", methods=["POST"], strict_slashes=False)
@blp.arguments(LocationSchema)
@blp.response(201, LocationSchema)
@blp.alt_response(409, description="A location with this name exists.")
def create_location(location: dict):
    """Add a shop."""
    return directory.create_location(**location)


@blp.route("/<path:name>", methods=["GET"])
@blp.response(200, LocationSchema)
@blp.alt_response(404, description="No location with this name.")
def read_location(name: str):
    """One shop."""
    return directory.get_location(name)


@blp.route("/<path:name>", methods=["PATCH"])
@blp.arguments(LocationUpdateSchema)
@blp.response(200, LocationSchema)
@blp.alt_response(404, description="No location with this name.")
@blp.alt_response(
    422,
    description="A field is invalid, a tier or the off-hours tier names an unknown user or one twice, the "
    "ladder does not climb (first step at 0 s, each later, a channel in one step, every step before a "
    "critical alert goes stale), or the opening hours or closures are not well formed (a bad weekday, time "
    "or date, a range starting where it ends, overlapping ranges, a week with no range).",
)
def update_location(changes: dict, name: str):
    """Change a shop's name shown, timezone, escalation delay, escalation tiers, ladder, opening hours,
    closures or off-hours tier (each replaced whole)."""
    return directory.update_location(name, **changes)


@blp.route("/<path:name>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No location with this name.")
@blp.alt_response(409, description="The location has alerts.")
def delete_location(name: str):
    """Remove a shop that has no alerts."""
    directory.delete_location(name)
