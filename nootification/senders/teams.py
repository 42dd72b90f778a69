"""The Microsoft Teams channel: an Adaptive Card posted to the contact's incoming-webhook URL."""

from collections.abc import Mapping

from marshmallow import Schema, fields

from nootification.i18n import translate
from nootification.senders.base import CLAIM_WORD, WATCH_WORD, Message, UrlTargetSender
from nootification.senders.http import post_json
from nootification.senders.registry import register
from nootification.senders.transport import HttpClient

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


class TeamsConfigSchema(Schema):
    """A Teams contact point: the channel's incoming-webhook HTTPS URL."""

    address = fields.Url(required=True, schemes={"https"})


@register
class TeamsSender(UrlTargetSender):
    """POSTs an Adaptive Card 1.4 with the subject, the body and a button to the video."""

    channel = "teams"
    sends_follow_ups = True
    reads_as_text = True
    # An Adaptive Card message must stay under 28 KB.
    max_subject = 250
    max_body = 20_000
    config_schema = TeamsConfigSchema
    secret_names = ()

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    @staticmethod
    def payload(message: Message) -> dict:
        """A message activity whose one attachment is the Adaptive Card."""
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {
                    "type": "TextBlock",
                    "text": message.subject,
                    "weight": "Bolder",
                    "size": "Medium",
                    "wrap": True,
                },
                {"type": "TextBlock", "text": message.body, "wrap": True},
            ],
            "actions": [
                {
                    "type": "Action.OpenUrl",
                    "title": translate(message.locale, WATCH_WORD),
                    "url": message.url,
                },
                *(
                    [
                        {
                            "type": "Action.OpenUrl",
                            "title": translate(message.locale, CLAIM_WORD),
                            "url": message.action_url,
                        }
                    ]
                    if message.action_url
                    else []
                ),
            ],
        }
        return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}

    def send(self, message: Message) -> None:
        """POST the card once; the webhook URL is itself the credential, so it is never quoted in errors."""
        post_json(self.http, self.public_url(message), self.payload(message), timeout=self.timeout)
