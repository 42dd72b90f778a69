"""The SMS channel: Twilio's Messages REST API."""

from marshmallow import Schema, fields, validate

from nootification.senders.base import Message
from nootification.senders.registry import register
from nootification.senders.text import subject_and_body, within_segments
from nootification.senders.twilio.rest import E164, TwilioSender

# Twilio refuses a body over 1,600 characters (error 21617).
MAX_BODY = 1600
# An alert SMS takes at most two segments; the shop's name keeps at least 16 characters, the label 10.
MAX_SEGMENTS = 2
SHORTEST_NAME, SHORTEST_LABEL = 16, 10
STATUS_CALLBACK_PATH = "/webhooks/twilio/sms-status"


class SmsConfigSchema(Schema):
    """An SMS contact point: a mobile number in E.164 form."""

    address = fields.String(
        required=True,
        validate=validate.Regexp(rf"^{E164.pattern}$", error="Not an E.164 phone number, e.g. +33612345678."),
    )


@register
class SmsSender(TwilioSender):
    """POSTs `{TWILIO_API_URL}/2010-04-01/Accounts/<sid>/Messages.json` form-encoded, with basic auth."""

    channel = "sms"
    sends_follow_ups = True
    reads_as_text = True
    # Twilio's limit for a whole message, link included (`with_link` fits it).
    max_body = MAX_BODY
    config_schema = SmsConfigSchema

    @staticmethod
    def body(message: Message) -> str:
        """Subject, body, video and action links and, for an alert, how to answer it, within two segments, the
        shop's name and the label shortened first; links and the answer line are never cut
        (`within_segments`)."""
        return within_segments(
            subject_and_body(message.subject, message.body),
            message.url,
            message.action_url,
            shorten=(
                (message.location_name, SHORTEST_NAME),
                (message.location, SHORTEST_NAME),
                (message.label, SHORTEST_LABEL),
            ),
            segments=MAX_SEGMENTS,
            limit=MAX_BODY,
            footer=message.answer_line,
            locale=message.locale,
        )

    def send(self, message: Message) -> str | None:
        """POST once, asking for status callbacks; the message's SID, the attempt's provider reference."""
        form = {"Body": self.body(message)}
        public_url = self.config["PUBLIC_URL"].rstrip("/")
        if public_url:
            # Twilio posts the message's status there, signed (api/twilio_callbacks.py); it refuses a
            # relative URL, so without PUBLIC_URL there is none.
            form["StatusCallback"] = public_url + STATUS_CALLBACK_PATH
        return self.create("Messages.json", message, form)
