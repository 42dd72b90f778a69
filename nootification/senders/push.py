"""The push channel: the HTTP provider of the original service, in its wire format."""

from collections.abc import Mapping
from urllib.parse import urlsplit

from marshmallow import Schema, fields, validate

from nootification.senders.base import Message, MessageSender
from nootification.senders.http import post_json
from nootification.senders.registry import register
from nootification.senders.transport import HttpClient


class PushConfigSchema(Schema):
    """A push contact point: the device token, optional because the provider can target the user."""

    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=4096))


@register
class PushSender(MessageSender):
    """POSTs each message to `{THIRD_PARTY_URL}/webhook/notifications/` with an idempotency key."""

    channel = "push"
    deduplicates = True
    config_schema = PushConfigSchema
    path = "/webhook/notifications/"

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.endpoint = config["THIRD_PARTY_URL"].rstrip("/") + self.path
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    @staticmethod
    def payload(message: Message) -> dict:
        """The original five fields, plus the sighting time, severity, delivery id and action link."""
        return {
            "target_user_uuid": message.user_uuid,
            "url": message.url,
            "alert_uuid": message.alert_uuid,
            "location": message.location,
            "label": message.label,
            "time_spotted": message.time_spotted,
            "severity": message.severity,
            "delivery_id": message.delivery_id,
            "action_url": message.action_url,
        }

    def destination(self, message: Message) -> str:
        """The provider's host and port: every push message goes there."""
        return urlsplit(self.endpoint).netloc

    def send(self, message: Message) -> None:
        """POST the message once; the delivery id as Idempotency-Key lets the provider drop repeats."""
        post_json(
            self.http,
            self.endpoint,
            self.payload(message),
            headers={"Idempotency-Key": message.delivery_id},
            timeout=self.timeout,
        )
