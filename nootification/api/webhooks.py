"""`POST /webhooks/alerts` and `/webhooks/alerts/batch`: alerts from the video-analytics system."""

from flask_smorest import Blueprint

from nootification.api.schemas.webhooks import (
    MAX_BATCH_ALERTS,
    MAX_BATCH_BYTES,
    AlertBatchInSchema,
    AlertBatchResultSchema,
    AlertCreatedSchema,
    AlertInSchema,
)
from nootification.auth import authenticate_alert_source, remember_webhook_answer
from nootification.delivery.ingest import ingest_alert
from nootification.delivery.ingest_batch import ingest_batch
from nootification.security import body_limit, limit_by_setting

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


@blp.route("/alerts/batch", methods=["POST"])
@body_limit(MAX_BATCH_BYTES)
@blp.doc(security=[{"webhookSignature": []}, {"bearerAuth": []}])
@blp.arguments(AlertBatchInSchema())
@blp.response(
    200,
    AlertBatchResultSchema,
    description="The batch was read: one result per item, in order, each with its own status. 200 rather "
    "than 207 Multi-Status: the request as a whole succeeded, and a signed batch's answer is kept for its "
    "webhook-id like the single webhook's.",
)
@blp.alt_response(401, description="Unsigned, badly signed or stale, and no alerts:write token.")
@blp.alt_response(403, description="The bearer token lacks the alerts:write scope.")
@blp.alt_response(409, description="The signed webhook-id was already received with a different body.")
@blp.alt_response(413, description=f"The body is over {MAX_BATCH_BYTES // 1024} KiB.")
@blp.alt_response(
    422,
    description=f"`alerts` is missing, empty or longer than {MAX_BATCH_ALERTS} (a bad item is its result).",
)
def receive_alert_batch(batch: dict):
    """Store up to 100 alerts of one request; one result per item, and one bad item sinks no other."""
    return {"results": ingest_batch(batch["alerts"])}
