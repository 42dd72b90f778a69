"""`POST /deliveries/<id>/receipt`: the phone says a notification arrived (`received`) or was opened (`seen`).

A native app sends the member of staff's `preferences:self` token; the staff page's service worker, which has
no token, sends the message's staff link in the body instead.
"""

from flask_smorest import Blueprint

from nootification.api.schemas.receipts import ReceiptInSchema, ReceiptSchema
from nootification.auth import current_token, has_scope, unauthorized
from nootification.errors import Forbidden
from nootification.security import limit_staff_routes
from nootification.services.staff_links import scope_of_link
from nootification.services.tokens import PREFERENCES_SELF
from nootification.staff.receipts import record_receipt

blp = Blueprint("receipts", __name__, url_prefix="/deliveries", description="Receipts from staff phones")
limit_staff_routes(blp)


@blp.route("/<delivery_id>/receipt", methods=["POST"])
@blp.arguments(ReceiptInSchema)
@blp.response(200, ReceiptSchema, description="The delivery's receipts as they now stand.")
@blp.alt_response(401, description="Neither a staff link nor a valid token.")
@blp.alt_response(403, description="A token that is no member of staff's.")
@blp.alt_response(404, description="No such delivery for this member of staff, or a forged link.")
@blp.alt_response(410, description="The staff link has expired.")
def report_receipt(receipt: dict, delivery_id: str):
    """Record that the notification arrived or was opened; the first report of each is kept."""
    if receipt["link"] is not None:
        scope = scope_of_link(receipt["link"])
        return record_receipt(
            delivery_id, receipt["state"], user_uuid=scope.user_uuid, alert_uuid=scope.alert_uuid
        )
    token = current_token()
    if token is None:
        raise unauthorized("A staff link or a member of staff's bearer token is required.")
    if token.user is None or not has_scope(token, PREFERENCES_SELF):
        raise Forbidden("Only a member of staff's phone reports receipts: use their preferences:self token.")
    return record_receipt(delivery_id, receipt["state"], user_uuid=token.user.user_uuid)
