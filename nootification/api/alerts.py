"""`GET /alerts/<alert_uuid>`: an alert and the state of each of its deliveries."""

from flask_smorest import Blueprint

from nootification.schemas import AlertDetailSchema
from nootification.services.alerts import get_alert

blp = Blueprint("alerts", __name__, url_prefix="/alerts", description="Stored alerts and their deliveries")


@blp.route("/<alert_uuid>")
@blp.response(200, AlertDetailSchema)
@blp.alt_response(404, description="No alert with this uuid.")
def read_alert(alert_uuid: str):
    """An alert with each delivery and its status."""
    return get_alert(alert_uuid)
