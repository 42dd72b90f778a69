"""The SMS channel: Twilio's Messages REST API."""

import re
from collections.abc import Mapping

from marshmallow import Schema, fields, validate

from nootification.senders.base import Message, MessageSender, PermanentSendError
from nootification.senders.http import json_body, raise_for_status
from nootification.senders.registry import register
from nootification.senders.text import subject_and_body, within_segments
from nootification.senders.transport import HttpClient

E164 = re.compile(r"\+[1-9]\d{6,14}")
# Twilio refuses a body over 1,600 characters (error 21617).
MAX_BODY = 1600
# An alert SMS takes at most two segments; the shop's name keeps at least 16 characters, the label 10.
MAX_SEGMENTS = 2
SHORTEST_NAME, SHORTEST_LABEL = 16, 10
STATUS_CALLBACK_PATH = "/webhooks/twilio/sms-status"
# The attempt's provider_ref column; Twilio's SIDs are 34 characters.
MAX_REF = 128


class SmsConfigSchema(Schema):
    """An SMS contact point: a mobile number in E.164 form."""

    address = fields.String(
        required=True,
        validate=validate.Regexp(rf"^{E164.pattern}$", error="Not an E.164 phone number, e.g. +33612345678."),
    )


def mask_numbers(text: str) -> str:
    """`text` with every E.164 number but its last two digits hidden; Twilio quotes the number in errors."""
    return E164.sub(lambda match: "+" + "*" * (len(match.group()) - 3) + match.group()[-2:], text)


@register
class SmsSender(MessageSender):
    """POSTs `{TWILIO_API_URL}/2010-04-01/Accounts/<sid>/Messages.json` form-encoded, with basic auth."""

    channel = "sms"
    sends_follow_ups = True
    reads_as_text = True
    # Twilio's limit for a whole message, link included (`with_link` fits it).
    max_body = MAX_BODY
    config_schema = SmsConfigSchema
    secret_names = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.api_url = config["TWILIO_API_URL"].rstrip("/")
        self.from_number = config["TWILIO_FROM_NUMBER"]
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

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
        """POST once, asking for status callbacks; the message's SID, the attempt's provider reference.
        Twilio's `{code, message}` error is quoted with phone numbers masked."""
        to = self.address(message)
        if not E164.fullmatch(self.from_number):
            raise PermanentSendError("TWILIO_FROM_NUMBER is not an E.164 phone number")
        sid = self.required_secret("TWILIO_ACCOUNT_SID")
        token = self.required_secret("TWILIO_AUTH_TOKEN")
        form = {"To": to, "From": self.from_number, "Body": self.body(message)}
        public_url = self.config["PUBLIC_URL"].rstrip("/")
        if public_url:
            # Twilio posts the message's status there, signed (api/twilio_callbacks.py); it refuses a
            # relative URL, so without PUBLIC_URL there is none.
            form["StatusCallback"] = public_url + STATUS_CALLBACK_PATH
        response = self.http.post(
            f"{self.api_url}/2010-04-01/Accounts/{sid}/Messages.json",
            form=form,
            auth=(sid, token),
            timeout=self.timeout,
        )
        answer = json_body(response)
        # Twilio's 404 message quotes the request path, and with it the account SID.
        detail = mask_numbers(str(answer.get("message") or response.reason)).replace(sid, "<account>")
        reason = f"HTTP {response.status_code}: Twilio {answer.get('code')}: {detail}"
        raise_for_status(response, reason=reason)
        sid_of_message = answer.get("sid")
        return str(sid_of_message)[:MAX_REF] if sid_of_message else None
