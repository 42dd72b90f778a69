"""`GET /users/<user_uuid>/export`: everything the service holds about a member of staff (GDPR access), for an
admin or for that person's own `preferences:self` token."""

from flask_smorest import Blueprint

from nootification.api.schemas.personal_data import PersonalDataSchema
from nootification.auth import ensure_may_act_for, require_scope
from nootification.services.personal_data import export_user
from nootification.services.tokens import PREFERENCES_SELF

blp = Blueprint(
    "personal_data", __name__, url_prefix="/users", description="Personal data: what is held about a person"
)
blp.before_request(require_scope(PREFERENCES_SELF))


@blp.route("/<user_uuid>/export", methods=["GET"])
@blp.response(200, PersonalDataSchema)
@blp.alt_response(401, description="No valid token.")
@blp.alt_response(403, description="A preferences:self token of another user.")
@blp.alt_response(404, description="No user with this uuid.")
def export(user_uuid: str):
    """Every personal field held about the person: their row, shops, contact points, preference, tokens
    (never their hashes), the alerts they were told of with their deliveries, their claims and outcomes."""
    ensure_may_act_for(user_uuid)
    return export_user(user_uuid)
