"""The Telegram channel: the Bot API's sendMessage to a chat id or an @channel."""

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from nootification.i18n import translate
from nootification.senders.base import CLAIM_ACTION, CLAIM_WORD, OPEN_WORD, Message, MessageSender
from nootification.senders.http import json_body, raise_for_status
from nootification.senders.registry import register
from nootification.senders.text import links, subject_and_body, with_link
from nootification.senders.transport import HttpClient

CHAT_ID = re.compile(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{4,31}")
MAX_TEXT = 4096


class ChatId(fields.Field):
    """A Telegram chat: a numeric id (a JSON integer or a string of digits) or an @channelusername."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and CHAT_ID.fullmatch(value):
            return value
        raise ValidationError("Not a Telegram chat id or @channelusername.")


class TelegramConfigSchema(Schema):
    """A Telegram contact point: the chat to post into; in a group, the recipient's Telegram user id, so that
    only they may press the message's buttons (a private chat's id is its user's)."""

    address = ChatId(required=True)
    user_id = fields.Integer(validate=validate.Range(min=1))


def buttons(message: Message) -> dict:
    """The inline keyboard of a message with an action link: "I'm on it" (a callback_query to the bot's
    webhook, api/chat_buttons.py) and "Open"."""
    row = [
        {
            "text": translate(message.locale, CLAIM_WORD),
            "callback_data": f"{CLAIM_ACTION}:{message.delivery_id}",
        },
        {"text": translate(message.locale, OPEN_WORD), "url": message.action_url},
    ]
    return {"inline_keyboard": [row]}


@register
class TelegramSender(MessageSender):
    """POSTs `{TELEGRAM_API_URL}/bot<TELEGRAM_BOT_TOKEN>/sendMessage` with the chat id and the text."""

    channel = "telegram"
    edits_messages = True
    reads_as_text = True
    # Telegram's limit for a whole message, link included (`with_link` fits it).
    max_body = MAX_TEXT
    config_schema = TelegramConfigSchema
    secret_names = ("TELEGRAM_BOT_TOKEN",)

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.api_url = config["TELEGRAM_API_URL"].rstrip("/")
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    @staticmethod
    def payload(message: Message, chat_id: str) -> dict:
        """sendMessage's parameters: the subject, the body, the video and action links as plain text, and
        the "I'm on it" and "Open" buttons."""
        text = with_link(
            subject_and_body(message.subject, message.body),
            links(message.url, message.action_url, message.locale),
            MAX_TEXT,
        )
        payload: dict = {"chat_id": chat_id, "text": text}
        if message.action_url:
            payload["reply_markup"] = buttons(message)
        return payload

    def send(self, message: Message) -> str | None:
        """POST once; a 429's `parameters.retry_after` becomes the wait before the next try. Returns the
        message's "<chat>:<message id>"."""
        chat_id = self.address(message)
        body = self._call("sendMessage", self.payload(message, chat_id))
        message_id = (body.get("result") or {}).get("message_id")
        return None if message_id is None else f"{chat_id}:{message_id}"

    def edit(self, provider_ref: str, message: Message) -> None:
        """editMessageText: the message's text becomes `message.body`; its buttons stay only when the new one
        has an action link (a summary), and go otherwise (someone is on it)."""
        chat_id, _, message_id = provider_ref.rpartition(":")
        payload: dict = {"chat_id": chat_id, "message_id": int(message_id), "text": message.body}
        if message.action_url:
            payload["reply_markup"] = buttons(message)
        self._call("editMessageText", payload)

    def _call(self, method: str, payload: dict) -> dict:
        token = self.required_secret("TELEGRAM_BOT_TOKEN")
        # The token is part of the URL: errors below quote Telegram's description, never the URL.
        response = self.http.post(f"{self.api_url}/bot{token}/{method}", json=payload, timeout=self.timeout)
        body = json_body(response)
        description = body.get("description") or response.reason
        raise_for_status(
            response,
            reason=f"Telegram {response.status_code}: {description}",
            retry_after=(body.get("parameters") or {}).get("retry_after"),
        )
        return body
