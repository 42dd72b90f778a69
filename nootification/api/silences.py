"""`/locations/<name>/silences`: spans during which a shop's alerts reach nobody (admin or the shop's
managers)."""

from flask import request
from flask_smorest import Blueprint

from nootification.api.schemas.silences import SilenceInSchema, SilenceSchema
from nootification.auth import ensure_manages
from nootification.services import silences

blp = Blueprint(
    "silences",
    __name__,
    url_prefix="/locations",
    description="A shop's silences (admin, or a manager of the shop with their own preferences:self token)",
)

FORBIDDEN = (
    "Neither an admin token nor the own token of a manager of this shop (one of its escalation tiers)."
)
UNKNOWN_SHOP = "No location with this name (to an admin; anyone else gets 403)."


@blp.before_request
def _only_admins_and_managers() -> None:
    ensure_manages(request.view_args["name"])


@blp.route("/<path:name>/silences", methods=["POST"])
@blp.arguments(SilenceInSchema)
@blp.response(201, SilenceSchema)
@blp.alt_response(403, description=FORBIDDEN)
@blp.alt_response(404, description=UNKNOWN_SHOP)
@blp.alt_response(
    422,
    description="A field is invalid: an unknown label, a time without a UTC offset, ends_at not after "
    "starts_at, in the past or more than 90 days ahead, an empty or too long comment.",
)
def create_silence(silence: dict, name: str):
    """Silence a shop's alerts of some labels (none: every label) for a while; critical ones only if asked."""
    return silences.create_silence(location_name=name, **silence)


@blp.route("/<path:name>/silences", methods=["GET"])
@blp.response(200, SilenceSchema(many=True))
@blp.alt_response(403, description=FORBIDDEN)
@blp.alt_response(404, description=UNKNOWN_SHOP)
def list_silences(name: str):
    """A shop's silences, pending, active and past, newest first."""
    return silences.list_silences(name)


@blp.route("/<path:name>/silences/<silence_id>", methods=["DELETE"])
@blp.response(200, SilenceSchema)
@blp.alt_response(403, description=FORBIDDEN)
@blp.alt_response(404, description="No such location (to an admin) or no silence with this id there.")
@blp.alt_response(409, description="The silence is already over (ran out or was ended).")
def end_silence(name: str, silence_id: str):
    """End a silence now; it stays in the shop's list, with `ended_at`."""
    return silences.end_silence(name, silence_id)
