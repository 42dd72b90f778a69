"""`GET /alerts/<alert_uuid>`: an alert and the state of each of its deliveries."""

from flask_smorest import Blueprint

from nootification.api.schemas.alerts import AlertDetailSchema, OutcomeEventSchema, ReplaySchema
from nootification.auth import require_scope
from nootification.delivery.dead_letters import replay_alert
from nootification.services.alerts import get_alert
from nootification.services.tokens import ADMIN
from nootification.staff import vendor_events

blp = Blueprint("alerts", __name__, url_prefix="/alerts", description="Stored alerts and their deliveries")
blp.before_request(require_scope(ADMIN))


@blp.route("/<alert_uuid>")
@blp.response(200, AlertDetailSchema)
@blp.alt_response(404, description="No alert with this uuid.")
def read_alert(alert_uuid: str):
    """An alert with each delivery and its status."""
    return get_alert(alert_uuid)


@blp.route("/<alert_uuid>/replay", methods=["POST"])
@blp.response(202, ReplaySchema)
@blp.alt_response(404, description="No alert with this uuid.")
@blp.alt_response(410, description="The alert is past its retention: its clip is gone.")
def replay(alert_uuid: str):
    """Send again the alert's failed or expired deliveries; sent ones are never sent twice."""
    replayed = replay_alert(alert_uuid)
    return {"alert_uuid": alert_uuid, "replayed": len(replayed), "deliveries": replayed}


@blp.route("/<alert_uuid>/outcome/replay", methods=["POST"])
@blp.response(202, OutcomeEventSchema, description="The event is queued to be sent again.")
@blp.alt_response(404, description="No outcome event for this alert.")
@blp.alt_response(409, description="The event is being sent right now.")
def replay_outcome(alert_uuid: str):
    """Send the alert's latest outcome event to the camera vendor again, under the same webhook-id."""
    return vendor_events.replay(alert_uuid)
