"""The original push provider: POST /webhook/notifications/, its wire format unchanged."""

import logging
import time

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from stub.faults import faulty, inject
from stub.http import json_error
from stub.state import StubState, stub_state

log = logging.getLogger(__name__)

bp = Blueprint("push", __name__)

REQUIRED_FIELDS = ("target_user_uuid", "url", "alert_uuid", "location", "label")


@bp.post("/webhook/notifications/", strict_slashes=False)
def receive_notification() -> ResponseReturnValue:
    """Record a notification, or answer with the failure the settings inject."""
    received_at = time.time()
    body = request.get_json(silent=True)
    key = request.headers.get("Idempotency-Key")
    response, outcome = _answer(stub_state(), body, key, received_at)
    alert_uuid = body.get("alert_uuid") if isinstance(body, dict) else None
    log.info("notification alert_uuid=%s idempotency_key=%s outcome=%s", alert_uuid, key, outcome)
    return response


def _answer(state: StubState, body: object, key: str | None, received_at: float) -> tuple[Response, str]:
    fault = inject(state)
    if fault is not None:
        response = faulty(json_error(fault.status, f"injected failure ({fault.reason})"), fault)
        return response, f"{fault.status} injected by {fault.reason}"
    if not isinstance(body, dict):
        return json_error(400, "invalid JSON", {"_schema": ["Invalid input type."]}), "400 invalid JSON"
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    if missing:
        errors = {name: ["Missing data for required field."] for name in missing}
        return json_error(400, "missing fields", errors), f"400 missing {','.join(missing)}"
    message, duplicate = state.record(body, key, received_at)
    if duplicate:
        reply = {"status": "accepted", "idempotency_key": key, "duplicate": True}
        return jsonify(reply), f"200 duplicate, receipt {message['receipts']}"
    response = jsonify({"status": "accepted", "idempotency_key": key})
    response.status_code = 201
    return response, "201 accepted"
