"""The camera vendor's channel: an event (an outcome staff recorded) POSTed to VENDOR_OUTCOME_URL, signed
per Standard Webhooks with VENDOR_WEBHOOK_SECRET. The message's id is the `webhook-id`, the same on every try,
so the vendor can drop a repeat; its `options` hold the event's type and data, built by the staff wing."""

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from marshmallow import Schema
from standardwebhooks.webhooks import Webhook

from nootification.senders.base import Message, PermanentSendError, UrlTargetSender
from nootification.senders.http import raise_for_status
from nootification.senders.registry import register
from nootification.senders.transport import HttpClient


class VendorConfigSchema(Schema):
    """No contact point: the vendor's URL is a setting (VENDOR_OUTCOME_URL), not a person's address."""


@register
class VendorSender(UrlTargetSender):
    """POSTs one event to the vendor; the breaker is per the URL's host, as a webhook's is."""

    channel = "vendor"
    reaches_staff = False
    deduplicates = True
    config_schema = VendorConfigSchema

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    @staticmethod
    def body(message: Message, sent_at: datetime) -> str:
        """The event as sent: its type, the moment it was signed, its data."""
        event = {
            "type": message.options["type"],
            "timestamp": sent_at.isoformat(),
            "data": message.options["data"],
        }
        return json.dumps(event, separators=(",", ":"))

    def send(self, message: Message) -> None:
        """POST once, signed; the URL is the operator's setting, not an address anyone else gave."""
        secret = self.config["VENDOR_WEBHOOK_SECRET"]
        if not secret:
            raise PermanentSendError("VENDOR_WEBHOOK_SECRET is not set")
        seconds = int(
            time.time()
        )  # whole seconds: the signed timestamp and the header must be the same number
        sent_at = datetime.fromtimestamp(seconds, UTC)
        body = self.body(message, sent_at)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message.delivery_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": Webhook(secret).sign(message.delivery_id, sent_at, body),
        }
        answer = self.http.post(
            self.address(message), body=body.encode(), headers=headers, timeout=self.timeout
        )
        raise_for_status(answer)
