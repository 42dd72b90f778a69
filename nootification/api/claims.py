"""`POST /alerts/<uuid>/claim` and `/outcome`: staff apps say "I'm on it" and what happened.

With the member of staff's own `preferences:self` token; the same actions are on the staff page behind each
message's action link (`/s/<link>`). An outcome is changed only by whoever recorded it or with an admin token.
"""

from flask_smorest import Blueprint

from nootification.api.schemas.claims import ClaimStateSchema, OutcomeInSchema
from nootification.auth import current_token, require_scope
from nootification.errors import Forbidden
from nootification.models import User
from nootification.security import limit_staff_routes
from nootification.services.alerts import get_alert
from nootification.services.tokens import ADMIN, PREFERENCES_SELF
from nootification.staff.claims import alert_for_staff, claim, claim_state, record_outcome

blp = Blueprint(
    "claims", __name__, url_prefix="/alerts", description='Staff: "I\'m on it", and what really happened'
)
blp.before_request(require_scope(PREFERENCES_SELF))
limit_staff_routes(blp)


def _staff_member() -> User:
    user = current_token().user
    if user is None:
        raise Forbidden("Only a member of staff claims an alert: use their preferences:self token.")
    return user


@blp.route("/<alert_uuid>/claim", methods=["POST"])
@blp.response(200, ClaimStateSchema, description="The alert is yours (already, or from now on).")
@blp.alt_response(401, description="No valid token.")
@blp.alt_response(403, description="Not a member of staff's token, or another shop's alert.")
@blp.alt_response(404, description="No alert with this uuid.")
@blp.alt_response(409, description="Someone else is already on it; the message names them.")
def claim_alert(alert_uuid: str):
    """Say "I'm on it": the first claim wins and the others who were told see who is on it."""
    user = _staff_member()
    alert = alert_for_staff(alert_uuid, user)
    claim(alert, user)
    return claim_state(alert, user)


@blp.route("/<alert_uuid>/outcome", methods=["POST"])
@blp.arguments(OutcomeInSchema)
@blp.response(
    200, ClaimStateSchema, description="The outcome is recorded; the earlier one stays in the history."
)
@blp.alt_response(401, description="No valid token.")
@blp.alt_response(403, description="Not a member of staff's or an admin token, or another shop's alert.")
@blp.alt_response(404, description="No alert with this uuid.")
@blp.alt_response(409, description="Someone else recorded the outcome; the message names them.")
@blp.alt_response(422, description="An unknown outcome, a negative value, or a note over 500 characters.")
def record_alert_outcome(posted: dict, alert_uuid: str):
    """Record what happened; an alert nobody claimed is claimed by whoever records it. Only whoever recorded
    an outcome, or an admin token (of any shop), may change it."""
    token = current_token()  # never None: require_scope refused the request otherwise
    if ADMIN in token.scopes:
        alert = get_alert(alert_uuid)
        record_outcome(alert, token.user, **posted, admin=True, token_id=token.id)
        return claim_state(alert, token.user)
    user = _staff_member()
    alert = alert_for_staff(alert_uuid, user)
    record_outcome(alert, user, **posted, token_id=token.id)
    return claim_state(alert, user)
