"""`POST /ops/ticket`: trade the admin bearer token for a short-lived ticket to open the ops event stream."""

from flask_smorest import Blueprint

from nootification.api.schemas.tickets import TicketSchema
from nootification.auth import TICKET_TTL_SECONDS, current_token, issue_ticket, require_scope
from nootification.services.tokens import ADMIN

blp = Blueprint(
    "tickets", __name__, url_prefix="/ops/ticket", description="Tickets for the ops page's stream (admin)"
)
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["POST"], strict_slashes=False)
@blp.response(201, TicketSchema)
@blp.alt_response(503, description="SECRET_KEY is not set, so tickets cannot be signed.")
def create_ticket():
    """A ticket for `GET /ops/events?ticket=...`, valid for a minute: EventSource cannot send headers."""
    return {"ticket": issue_ticket(current_token()), "expires_in": TICKET_TTL_SECONDS}
