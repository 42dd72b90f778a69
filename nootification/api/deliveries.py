"""`/deliveries`: every delivery, the dead letters among them, and sending again (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.deliveries import DeliveryDetailSchema, DeliveryPageSchema, DeliveryQuerySchema
from nootification.auth import require_scope
from nootification.delivery import dead_letters
from nootification.services.tokens import ADMIN

blp = Blueprint(
    "deliveries", __name__, url_prefix="/deliveries", description="Deliveries and dead letters (admin)"
)
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.arguments(DeliveryQuerySchema, location="query")
@blp.response(200, DeliveryPageSchema)
def list_deliveries(filters: dict):
    """Outbound records (alerts' deliveries, vendor events, notices), newest first: filter by status, kind,
    location, channel, alert_uuid, since/until; paginated."""
    return dead_letters.list_deliveries(**filters)


@blp.route("/<delivery_id>", methods=["GET"])
@blp.response(200, DeliveryDetailSchema)
@blp.alt_response(404, description="No delivery with this id.")
def read_delivery(delivery_id: str):
    """One delivery with its schedule and every attempt."""
    return dead_letters.get_delivery(delivery_id)


@blp.route("/<delivery_id>/retry", methods=["POST"])
@blp.response(202, DeliveryDetailSchema)
@blp.alt_response(404, description="No delivery with this id.")
@blp.alt_response(409, description="The delivery is not failed or expired.")
@blp.alt_response(410, description="Its alert is past its retention: its clip is gone.")
def retry_delivery(delivery_id: str):
    """Send a failed or expired delivery again, with a fresh freshness window."""
    return dead_letters.retry_delivery(delivery_id)
