"""The webhook channel: a JSON POST to the contact's HTTPS endpoint, signed per Standard Webhooks."""

import binascii
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from marshmallow import Schema, fields
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from nootification.senders.base import Message, PermanentSendError, UrlTargetSender
from nootification.senders.http import raise_for_status
from nootification.senders.registry import register
from nootification.senders.transport import HttpClient

EVENT_TYPE = "alert.notification"


class WebhookConfigSchema(Schema):
    """A webhook contact point: the receiver's HTTPS URL."""

    address = fields.Url(required=True, schemes={"https"})


@register
class WebhookSender(UrlTargetSender):
    """POSTs each message as JSON with webhook-id, webhook-timestamp and webhook-signature headers."""

    channel = "webhook"
    sends_follow_ups = True
    deduplicates = True
    # Receivers differ; these keep one POST small.
    max_subject = 1000
    max_body = 20_000
    config_schema = WebhookConfigSchema
    secret_names = ("WEBHOOK_SIGNING_SECRET",)

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    @staticmethod
    def payload(message: Message, timestamp: datetime) -> dict:
        """The Standard Webhooks envelope: type, timestamp and the alert as data."""
        return {
            "type": EVENT_TYPE,
            "timestamp": timestamp.isoformat(),
            "data": {
                "delivery_id": message.delivery_id,
                "target_user_uuid": message.user_uuid,
                "alert_uuid": message.alert_uuid,
                "url": message.url,
                "location": message.location,
                "label": message.label,
                "severity": message.severity,
                "time_spotted": message.time_spotted,
                "subject": message.subject,
                "body": message.body,
                "action_url": message.action_url,
            },
        }

    def signer(self) -> Webhook:
        """The signer for WEBHOOK_SIGNING_SECRET ("whsec_" + base64 of the key)."""
        try:
            return Webhook(self.required_secret("WEBHOOK_SIGNING_SECRET"))
        except (binascii.Error, EmptyWebhookSecretError):
            raise PermanentSendError("secret WEBHOOK_SIGNING_SECRET is not whsec_ + base64") from None

    def send(self, message: Message) -> None:
        """POST once; the delivery id is the webhook-id, so a receiver can drop a retried repeat."""
        url = self.public_url(message)
        signer = self.signer()
        # Whole seconds: the signed timestamp and the header must be the same number.
        seconds = int(time.time())
        timestamp = datetime.fromtimestamp(seconds, UTC)
        body = json.dumps(self.payload(message, timestamp), separators=(",", ":"))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message.delivery_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": signer.sign(message.delivery_id, timestamp, body),
        }
        response = self.http.post(url, body=body.encode(), headers=headers, timeout=self.timeout)
        raise_for_status(response)
