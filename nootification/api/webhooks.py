"""`POST /webhooks/alerts`: alerts from the video-analytics system."""

from flask_smorest import Blueprint

from nootification.api.schemas.webhooks import AlertCreatedSchema, AlertInSchema
from nootification.auth import authenticate_alert_source, remember_webhook_answer
from nootification.delivery.ingest import ingest_alert
from nootification.security import limit_by_setting

blp = Blueprint(
    "webhooks", __name__, url_prefix="/webhooks", description="Alerts from the video-analytics system"
)
blp.before_request(authenticate_alert_source)
blp.after_request(remember_webhook_answer)
limit_by_setting(blp, "RATELIMIT_ALERTS")


@blp.route("/alerts", methods=["POST"], strict_slashes=False)
@blp.doc(security=[{"webhookSignature": []}, {"bearerAuth": []}])
@blp.arguments(AlertInSchema())
@blp.response(201, AlertCreatedSchema, description="The alert is stored and its deliveries are queued.")
@blp.alt_response(200, schema=AlertCreatedSchema, description="The same alert was already received.")
@blp.alt_response(401, description="Unsigned, badly signed or stale, and no alerts:write token.")
@blp.alt_response(
    409, description="The alert_uuid, or the signed webhook-id, was already received with different content."
)
@blp.alt_response(422, description="A field is invalid, or the location is unknown.")
def receive_alert(alert: dict):
    """Store an alert and notify the shop's staff; a repeat of a stored alert is answered 200."""
    result = ingest_alert(**alert)
    return result.alert, 201 if result.created else 200
