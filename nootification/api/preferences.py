"""`/preferences`: what each user wants to be alerted about."""

from flask_smorest import Blueprint

from nootification.schemas import LevelInSchema, PreferenceInSchema, PreferenceSchema
from nootification.services.directory import get_user
from nootification.services.preferences import set_level

blp = Blueprint("preferences", __name__, url_prefix="/preferences", description="Users' alerting preferences")


@blp.route("", methods=["PUT"], strict_slashes=False)
@blp.arguments(PreferenceInSchema)
@blp.response(200, PreferenceSchema)
@blp.alt_response(404, description="No user with this user_id.")
def put_preference(preference: dict):
    """Set a user's level with the original body `{"user_id": ..., "level": ...}`."""
    return set_level(user_uuid=preference["user_id"], level=preference["level"])


@blp.route("/<user_id>", methods=["PUT"])
@blp.arguments(LevelInSchema)
@blp.response(200, PreferenceSchema)
@blp.alt_response(404, description="No user with this user_id.")
def put_user_preference(preference: dict, user_id: str):
    """Set the level of the user named in the path."""
    return set_level(user_uuid=user_id, level=preference["level"])


@blp.route("/<user_id>", methods=["GET"])
@blp.response(200, PreferenceSchema)
@blp.alt_response(404, description="No user with this user_id.")
def get_preference(user_id: str):
    """A user's stored level."""
    return get_user(user_id)
