"""The voice channel: Twilio's Calls REST API, the call spoken from inline TwiML (twiml.py)."""

from collections.abc import Mapping

from nootification.i18n import translate
from nootification.senders.base import REPEAT_MARK, Message, MessageSender, PermanentSendError
from nootification.senders.http import json_body, raise_for_status
from nootification.senders.registry import register
from nootification.senders.transport import HttpClient
from nootification.senders.twilio.sms import E164, MAX_REF, SmsConfigSchema, mask_numbers
from nootification.senders.twilio.twiml import ask, gather_url

STATUS_CALLBACK_PATH = "/webhooks/twilio/voice-status"
# Twilio takes at most 4,000 characters of inline TwiML: the spoken text stays well within it.
MAX_SPOKEN = 1000


class VoiceConfigSchema(SmsConfigSchema):
    """A voice contact point: a phone number in E.164 form, as for SMS."""


@register
class VoiceSender(MessageSender):
    """POSTs `{TWILIO_API_URL}/2010-04-01/Accounts/<sid>/Calls.json` form-encoded, with basic auth: a call
    that says the alert and waits for key 1 ("I'm on it")."""

    channel = "voice"
    rings = True
    max_subject = MAX_SPOKEN
    max_body = MAX_SPOKEN
    config_schema = VoiceConfigSchema
    secret_names = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.api_url = config["TWILIO_API_URL"].rstrip("/")
        self.from_number = config["TWILIO_FROM_NUMBER"]
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)

    def twiml(self, message: Message) -> str:
        """What the call says (the rendered body, else the subject; first that it is a repeat, when it is) and
        the key it waits for, in the recipient's language; the key goes to
        PUBLIC_URL/webhooks/twilio/voice?delivery=<id>."""
        public_url = self.config["PUBLIC_URL"].rstrip("/")
        if not public_url:
            # Twilio needs an absolute URL to post the key to: without one, nobody could say "I'm on it".
            raise PermanentSendError("PUBLIC_URL is not set: a call could not be answered")
        text = message.body or message.subject
        if message.repeat and text == message.body:
            text = translate(message.locale, REPEAT_MARK) + text
        return ask(text, gather_url(public_url, message.delivery_id), message.locale)

    def send(self, message: Message) -> str | None:
        """POST once, asking for the call's final status; the call's SID, the attempt's provider reference.
        Twilio's `{code, message}` error is quoted with phone numbers masked."""
        to = self.address(message)
        if not E164.fullmatch(self.from_number):
            raise PermanentSendError("TWILIO_FROM_NUMBER is not an E.164 phone number")
        sid = self.required_secret("TWILIO_ACCOUNT_SID")
        token = self.required_secret("TWILIO_AUTH_TOKEN")
        form = {
            "To": to,
            "From": self.from_number,
            "Twiml": self.twiml(message),
            "StatusCallback": self.config["PUBLIC_URL"].rstrip("/") + STATUS_CALLBACK_PATH,
        }
        response = self.http.post(
            f"{self.api_url}/2010-04-01/Accounts/{sid}/Calls.json",
            form=form,
            auth=(sid, token),
            timeout=self.timeout,
        )
        answer = json_body(response)
        # Twilio's 404 message quotes the request path, and with it the account SID.
        detail = mask_numbers(str(answer.get("message") or response.reason)).replace(sid, "<account>")
        raise_for_status(
            response, reason=f"HTTP {response.status_code}: Twilio {answer.get('code')}: {detail}"
        )
        call_sid = answer.get("sid")
        return str(call_sid)[:MAX_REF] if call_sid else None
