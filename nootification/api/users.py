"""`/users`: the staff of each shop (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.users import UserQuerySchema, UserSchema, UserUpdateSchema
from nootification.auth import require_scope
from nootification.services import directory
from nootification.services.erasure import erase_user
from nootification.services.tokens import ADMIN

blp = Blueprint("users", __name__, url_prefix="/users", description="Staff (admin)")
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.arguments(UserQuerySchema, location="query")
@blp.response(200, UserSchema(many=True))
def list_users(filters: dict):
    """Every user, or those of one shop (`?location=`)."""
    return directory.list_users(**filters)


@blp.route("", methods=["POST"], strict_slashes=False)
@blp.arguments(UserSchema)
@blp.response(201, UserSchema)
@blp.alt_response(409, description="A user with this user_uuid exists.")
@blp.alt_response(422, description="A field is invalid, or a location is unknown.")
def create_user(user: dict):
    """Add a member of staff."""
    return directory.create_user(**user)


@blp.route("/<user_uuid>", methods=["GET"])
@blp.response(200, UserSchema)
@blp.alt_response(404, description="No user with this uuid.")
def read_user(user_uuid: str):
    """One member of staff, with their shops and level."""
    return directory.get_user(user_uuid)


@blp.route("/<user_uuid>", methods=["PATCH"])
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
@blp.alt_response(404, description="No user with this uuid.")
@blp.alt_response(422, description="A field is invalid, or a location is unknown.")
@blp.alt_response(409, description="The user was erased.")
def update_user(changes: dict, user_uuid: str):
    """Change a user's name, level, push address or shops."""
    return directory.update_user(user_uuid, **changes)


@blp.route("/<user_uuid>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No user with this uuid.")
def delete_user(user_uuid: str):
    """Remove a member of staff."""
    directory.delete_user(user_uuid)


@blp.route("/<user_uuid>/erase", methods=["POST"])
@blp.response(200, UserSchema, description="The user as kept: a pseudonym, no contact points, no shops.")
@blp.alt_response(404, description="No user with this uuid.")
@blp.alt_response(409, description="The user was already erased.")
def erase(user_uuid: str):
    """Erase a member of staff's personal data (GDPR): name, push address, contact points, shops and
    escalation tiers, what the ledger quoted of their messages; their tokens are revoked. The row stays under
    a pseudonym, with `erased_at`, so counts, claims and statistics do not change; no later alert reaches
    them."""
    return erase_user(user_uuid)
