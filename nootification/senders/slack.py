"""The Slack channel: chat.postMessage with a bot token, or the contact's incoming-webhook URL."""

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from nootification.i18n import translate
from nootification.senders.base import (
    CLAIM_ACTION,
    CLAIM_WORD,
    OPEN_WORD,
    WATCH_WORD,
    Message,
    MessageSender,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from nootification.senders.http import json_body, post_json, raise_for_status
from nootification.senders.registry import register
from nootification.senders.text import links, subject_and_body
from nootification.senders.transport import HttpClient

CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{8,}")
USER_ID = re.compile(r"[UW][A-Z0-9]{8,}")
# Slack's limits on a header block's and a section block's text.
MAX_HEADER = 150
MAX_SECTION = 3000
# chat.postMessage `error` codes worth retrying; every other one is a refusal.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}
)
METADATA_EVENT = "nootification_alert"


def validate_address(value: str) -> None:
    """A Slack channel id (C…, G…, D…) or an https incoming-webhook URL."""
    if CHANNEL_ID.fullmatch(value):
        return
    try:
        validate.URL(schemes={"https"})(value)
    except ValidationError:
        raise ValidationError("Not a Slack channel id or an https incoming-webhook URL.") from None


class SlackConfigSchema(Schema):
    """A Slack contact point: a channel id for the bot, or an incoming-webhook URL; in a shared channel, the
    recipient's Slack user id, so that only they may press the message's buttons."""

    address = fields.String(required=True, validate=validate_address)
    user_id = fields.String(validate=validate.Regexp(USER_ID, error="Not a Slack user id (U… or W…)."))


def is_webhook(address: str) -> bool:
    """Whether the address is an incoming-webhook URL rather than a channel id."""
    # http too: config_schema admits https only, but a loopback stub speaks plain http.
    return address.startswith(("https://", "http://"))


def blocks(message: Message) -> list[dict[str, Any]]:
    """Block Kit: the subject as a header, the body as a section, buttons to the video and the staff page."""
    header = {"type": "header", "text": {"type": "plain_text", "text": message.subject[:MAX_HEADER]}}
    section = {"type": "section", "text": {"type": "plain_text", "text": message.body[:MAX_SECTION]}}
    # Slack refuses a block with empty text, so an empty subject or body has no block.
    return [
        *([header] if message.subject else []),
        *([section] if message.body else []),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": translate(message.locale, WATCH_WORD)},
                    "url": message.url,
                    "action_id": "open_video",
                },
                *(
                    [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": translate(message.locale, CLAIM_WORD)},
                            "action_id": CLAIM_ACTION,
                            "value": message.delivery_id,
                            "style": "primary",
                        },
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": translate(message.locale, OPEN_WORD)},
                            "url": message.action_url,
                            "action_id": "open_staff_page",
                        },
                    ]
                    if message.action_url
                    else []
                ),
            ],
        },
    ]


def api_error(code: str) -> SendError:
    """The error for a Web API `ok: false` answer: transient for rate limits and Slack's own trouble."""
    if code in TRANSIENT_ERRORS:
        return TransientSendError(f"Slack {code}")
    return PermanentSendError(f"Slack {code}")


@register
class SlackSender(MessageSender):
    """Posts a Block Kit message through the Web API (SLACK_BOT_TOKEN) or to an incoming webhook."""

    channel = "slack"
    edits_messages = True
    reads_as_text = True
    # Block Kit's limits for a header and a section's text.
    max_subject = MAX_HEADER
    max_body = MAX_SECTION
    config_schema = SlackConfigSchema
    secret_names = ("SLACK_BOT_TOKEN",)

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.api_url = config["SLACK_API_URL"].rstrip("/")
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    @staticmethod
    def payload(message: Message) -> dict:
        """The blocks, with the plain text that notifications and old clients show."""
        link_lines = links(message.url, message.action_url, message.locale)
        text = f"{subject_and_body(message.subject, message.body)}\n{link_lines}"
        return {"text": text.strip(), "blocks": blocks(message), "unfurl_links": False}

    def send(self, message: Message) -> str | None:
        """Post once, through the address's incoming webhook or the Web API (whose message can be edited)."""
        address = self.address(message)
        if is_webhook(address):
            # An incoming webhook answers "ok", or a status with a text code such as channel_not_found.
            post_json(self.http, self.public_url(message), self.payload(message), timeout=self.timeout)
            return None
        return self.post_message(address, message)

    def edit(self, provider_ref: str, message: Message) -> None:
        """chat.update: the message's text and blocks become `message.body`; its buttons stay only when the
        new one has an action link (a summary), and go otherwise (someone is on it)."""
        channel_id, _, ts = provider_ref.partition(":")
        section = [{"type": "section", "text": {"type": "plain_text", "text": message.body[:MAX_SECTION]}}]
        payload = {
            "channel": channel_id,
            "ts": ts,
            "text": message.body,
            "blocks": blocks(replace(message, subject="")) if message.action_url else section,
        }
        self._call("chat.update", payload)

    def _call(self, method: str, payload: dict) -> dict:
        token = self.required_secret("SLACK_BOT_TOKEN")
        response = self.http.post(
            f"{self.api_url}/{method}",
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
            timeout=self.timeout,
        )
        answer = json_body(response)
        error = answer.get("error")
        raise_for_status(response, reason=f"HTTP {response.status_code}: Slack {error}" if error else None)
        if answer.get("ok") is not True:
            raise api_error(error or "answer without ok: true")
        return answer

    def post_message(self, channel_id: str, message: Message) -> str:
        """chat.postMessage, which answers 200 with `ok: false` and an error code when it refuses; the
        message's "<channel>:<ts>"."""
        payload = {
            "channel": channel_id,
            **self.payload(message),
            # Slack has no idempotency key; message metadata carries the delivery id to the receiver.
            "metadata": {
                "event_type": METADATA_EVENT,
                "event_payload": {"delivery_id": message.delivery_id, "alert_uuid": message.alert_uuid},
            },
        }
        answer = self._call("chat.postMessage", payload)
        return f"{answer.get('channel') or channel_id}:{answer.get('ts')}"
