"""Slack: the Web API (chat.postMessage, chat.update), incoming webhooks, a button pressed as Slack does."""

import hashlib
import hmac
import json
import time
import urllib.parse

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from stub.callbacks import press
from stub.faults import faulty, inject
from stub.http import json_object, text_response
from stub.state import store, stub_state

bp = Blueprint("slack", __name__)

# A channel and a webhook Slack does not know, so tests can provoke their refusals.
UNKNOWN_SLACK_CHANNEL = "C0NOTFOUND"
UNKNOWN_WEBHOOK_ID = "notfound"

# Slack: the Web API answers 200 with {"ok": false, "error": code} when it refuses; rate limits are 429s.
SLACK_FAULT_ERRORS = {429: "ratelimited", 503: "service_unavailable", 504: "request_timeout"}


def _slack_refusal(error: str) -> Response:
    return jsonify({"ok": False, "error": error})


@bp.post("/slack/api/chat.postMessage")
def slack_post_message() -> ResponseReturnValue:
    """Slack's chat.postMessage with a bot token; the delivery id in message metadata is the dedup key."""
    fault = inject(stub_state())
    if fault is not None:
        error = SLACK_FAULT_ERRORS.get(
            fault.status, "fatal_error" if fault.status >= 500 else "invalid_request"
        )
        return faulty(_slack_refusal(error), fault)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        return _slack_refusal("not_authed")
    if not token.startswith("xoxb-"):
        return _slack_refusal("invalid_auth")
    body = json_object()
    if body is None:
        return _slack_refusal("invalid_arguments")
    channel = body.get("channel")
    if not channel or channel == UNKNOWN_SLACK_CHANNEL:
        return _slack_refusal("channel_not_found")
    if not body.get("text") and not body.get("blocks"):
        return _slack_refusal("no_text")
    event = (body.get("metadata") or {}).get("event_payload") or {}
    key = request.headers.get("Idempotency-Key") or event.get("delivery_id")
    store(
        stub_state(),
        "slack",
        channel,
        body.get("text", ""),
        body,
        key=key,
        alert_uuid=event.get("alert_uuid"),
    )
    ts = f"{time.time():.6f}"
    return {
        "ok": True,
        "channel": channel,
        "ts": ts,
        "message": {"type": "message", "text": body.get("text")},
    }


@bp.post("/slack/api/chat.update")
def slack_update_message() -> ResponseReturnValue:
    """Slack's chat.update with a bot token: the edit is kept (GET /edits) under "<channel>:<ts>"."""
    fault = inject(stub_state())
    if fault is not None:
        error = SLACK_FAULT_ERRORS.get(
            fault.status, "fatal_error" if fault.status >= 500 else "invalid_request"
        )
        return faulty(_slack_refusal(error), fault)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token.startswith("xoxb-"):
        return _slack_refusal("not_authed")
    body = json_object() or {}
    if not body.get("channel") or not body.get("ts"):
        return _slack_refusal("message_not_found")
    buttons = [
        str(element.get("text", {}).get("text", ""))
        for block in body.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "actions"
        for element in block.get("elements") or []
        if isinstance(element, dict)
    ]
    stub_state().record_edit("slack", f"{body['channel']}:{body['ts']}", str(body.get("text", "")), buttons)
    return {"ok": True, "channel": body["channel"], "ts": body["ts"], "text": body.get("text")}


# Slack incoming webhooks answer "ok", or a status with a short text code.
SLACK_WEBHOOK_FAULT_TEXTS = {
    400: "invalid_payload",
    403: "action_prohibited",
    404: "channel_not_found",
    410: "channel_is_archived",
    429: "rate_limited",
}


@bp.post("/slack/webhook/<path:hook_id>")
def slack_webhook(hook_id: str) -> ResponseReturnValue:
    """A Slack incoming webhook; it carries no delivery id, so every post counts."""
    fault = inject(stub_state())
    if fault is not None:
        return faulty(text_response(SLACK_WEBHOOK_FAULT_TEXTS.get(fault.status, "rollup_error")), fault)
    if hook_id == UNKNOWN_WEBHOOK_ID:
        return text_response("no_service", 404)
    body = json_object()
    if body is None:
        return text_response("invalid_payload", 400)
    if not body.get("text") and not body.get("blocks"):
        return text_response("no_text", 400)
    store(
        stub_state(),
        "slack",
        f"webhook/{hook_id}",
        body.get("text", ""),
        body,
        key=request.headers.get("Idempotency-Key"),
    )
    return text_response("ok")


@bp.post("/press/slack")
def press_slack_button() -> ResponseReturnValue:
    """Press a Block Kit button as Slack does: a signed `payload=` form to the app's interactivity URL.

    Body: {url, signing_secret, channel, action_id, value, user_id?}; the answer is the service's.
    """
    body = json_object() or {}
    payload = {
        "type": "block_actions",
        "user": {"id": body.get("user_id", "U0STAFF"), "name": "staff"},
        "channel": {"id": body.get("channel", "")},
        "actions": [
            {"action_id": body.get("action_id", ""), "value": body.get("value", ""), "type": "button"}
        ],
    }
    form = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()))
    secret = str(body.get("signing_secret", "")).encode()
    digest = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + form, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    return press(str(body.get("url", "")), form, headers)
