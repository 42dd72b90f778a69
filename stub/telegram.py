"""Telegram's Bot API: sendMessage, editMessageText, and an inline button pressed as Telegram does."""

import json
import re
import time
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.http import HTTP_STATUS_CODES

from stub.callbacks import press
from stub.faults import inject
from stub.http import json_object
from stub.state import store, stub_state

bp = Blueprint("telegram", __name__)

# A chat Telegram does not know, so tests can provoke its refusal.
UNKNOWN_TELEGRAM_CHAT = "@notfound"
TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
TELEGRAM_MAX_TEXT = 4096


# Telegram's Bot API: {"ok": false, "error_code", "description"}, and a 429's wait in parameters.retry_after.
def _telegram_refusal(status: int, description: str, **parameters: int) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/telegram/bot<token>/editMessageText")
def telegram_edit_message_text(token: str) -> ResponseReturnValue:
    """Telegram's editMessageText: the edit is kept (GET /edits) under "<chat>:<message id>"."""
    fault = inject(stub_state())
    if fault is not None:
        return _telegram_refusal(fault.status, HTTP_STATUS_CODES[fault.status])
    if not TELEGRAM_TOKEN.fullmatch(token):
        return _telegram_refusal(401, "Unauthorized")
    body = json_object() or {}
    chat_id, message_id, text = body.get("chat_id"), body.get("message_id"), body.get("text")
    if chat_id in (None, "") or not isinstance(message_id, int):
        return _telegram_refusal(400, "Bad Request: message to edit not found")
    if not text:
        return _telegram_refusal(400, "Bad Request: message text is empty")
    markup = body.get("reply_markup")
    keyboard = markup.get("inline_keyboard") or [] if isinstance(markup, dict) else []
    buttons = [
        str(button.get("text", ""))
        for row in keyboard
        if isinstance(row, list)
        for button in row
        if isinstance(button, dict)
    ]
    stub_state().record_edit("telegram", f"{chat_id}:{message_id}", text, buttons)
    return {"ok": True, "result": {"message_id": message_id, "chat": {"id": chat_id}, "text": text}}


@bp.post("/telegram/bot<token>/sendMessage")
def telegram_send_message(token: str) -> ResponseReturnValue:
    """Telegram's sendMessage; no delivery id travels, so every post counts."""
    fault = inject(stub_state())
    if fault is not None:
        if fault.status == 429:
            # Telegram says how long to wait in the body, not in a Retry-After header.
            description = f"Too Many Requests: retry after {fault.retry_after}"
            return _telegram_refusal(429, description, retry_after=fault.retry_after)
        return _telegram_refusal(fault.status, HTTP_STATUS_CODES[fault.status])
    if not TELEGRAM_TOKEN.fullmatch(token):
        return _telegram_refusal(401, "Unauthorized")
    body = json_object() or {}
    chat_id, text = body.get("chat_id"), body.get("text")
    if chat_id in (None, ""):
        return _telegram_refusal(400, "Bad Request: chat_id is empty")
    if not text:
        return _telegram_refusal(400, "Bad Request: message text is empty")
    if len(text) > TELEGRAM_MAX_TEXT:
        return _telegram_refusal(400, "Bad Request: message is too long")
    if chat_id == UNKNOWN_TELEGRAM_CHAT:
        return _telegram_refusal(400, "Bad Request: chat not found")
    store(stub_state(), "telegram", str(chat_id), text, body, key=request.headers.get("Idempotency-Key"))
    result = {
        "message_id": stub_state().next_id(),
        "date": int(time.time()),
        "chat": {"id": chat_id},
        "text": text,
    }
    return {"ok": True, "result": result}


@bp.post("/press/telegram")
def press_telegram_button() -> ResponseReturnValue:
    """Press an inline button as Telegram does: post a callback_query update to the bot's webhook.

    Body: {url, secret_token, chat_id, callback_data, from_id?}; the answer is the webhook's.
    """
    body = json_object() or {}
    update = {
        "update_id": stub_state().next_id(),
        "callback_query": {
            "id": str(uuid.uuid4().int)[:19],
            "from": {"id": body.get("from_id", 1), "is_bot": False, "first_name": "Staff"},
            "message": {"message_id": stub_state().next_id(), "chat": {"id": body.get("chat_id")}},
            "chat_instance": "1",
            "data": body.get("callback_data", ""),
        },
    }
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": str(body.get("secret_token", "")),
    }
    return press(str(body.get("url", "")), json.dumps(update).encode(), headers)
