"""Microsoft Teams incoming webhooks."""

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from werkzeug.http import HTTP_STATUS_CODES

from stub.faults import faulty, inject
from stub.http import json_object, text_response
from stub.state import store, stub_state

bp = Blueprint("teams", __name__)


@bp.post("/teams/webhook/<path:hook_id>")
def teams_webhook(hook_id: str) -> ResponseReturnValue:
    """A Microsoft Teams incoming webhook: a message activity with attachments; answers "1"."""
    fault = inject(stub_state())
    if fault is not None:
        return faulty(text_response(HTTP_STATUS_CODES[fault.status]), fault)
    body = json_object()
    attachments = body.get("attachments") if body else None
    if body is None or body.get("type") != "message" or not attachments or not isinstance(attachments, list):
        return text_response("Bad payload received by generic incoming webhook.", 400)
    card = attachments[0].get("content") or {}
    text = "\n".join(
        block.get("text", "") for block in card.get("body", []) if block.get("type") == "TextBlock"
    )
    store(stub_state(), "teams", f"webhook/{hook_id}", text, body, key=request.headers.get("Idempotency-Key"))
    return text_response("1")
