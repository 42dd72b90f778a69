"""Generic (vendor) webhooks, signed per Standard Webhooks when STUB_WEBHOOK_SECRET is set."""

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from stub.faults import faulty, inject
from stub.http import json_error, json_object
from stub.state import store, stub_state

bp = Blueprint("webhook", __name__)


@bp.post("/webhook/generic/<path:hook_id>")
def generic_webhook(hook_id: str) -> ResponseReturnValue:
    """A Standard Webhooks receiver: checks signatures if STUB_WEBHOOK_SECRET is set; dedups by webhook-id."""
    fault = inject(stub_state())
    if fault is not None:
        return faulty(json_error(fault.status, f"injected failure ({fault.reason})"), fault)
    secret = current_app.config["STUB_WEBHOOK_SECRET"]
    if secret:
        try:
            Webhook(secret).verify(request.get_data(), dict(request.headers), json_parse=False)
        except WebhookVerificationError as exc:
            return json_error(401, f"bad signature: {exc}")
    body = json_object()
    if body is None:
        return json_error(400, "invalid JSON", {"_schema": ["Invalid input type."]})
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    key = request.headers.get("Idempotency-Key") or request.headers.get("webhook-id")
    address = f"generic/{hook_id}"
    _, duplicate = store(
        stub_state(),
        "webhook",
        address,
        data.get("body", ""),
        body,
        key=key,
        alert_uuid=data.get("alert_uuid"),
    )
    reply = {"status": "accepted", "webhook_id": key}
    if duplicate:
        return {**reply, "duplicate": True}
    response = jsonify(reply)
    response.status_code = 201
    return response
