"""The voice channel: Twilio's Calls REST API, the call spoken from inline TwiML (twiml.py)."""

from nootification.i18n import translate
from nootification.senders.base import REPEAT_MARK, Message, PermanentSendError
from nootification.senders.registry import register
from nootification.senders.twilio.rest import TwilioSender
from nootification.senders.twilio.sms import SmsConfigSchema
from nootification.senders.twilio.twiml import ask, gather_url

STATUS_CALLBACK_PATH = "/webhooks/twilio/voice-status"
# Twilio takes at most 4,000 characters of inline TwiML: the spoken text stays well within it.
MAX_SPOKEN = 1000


class VoiceConfigSchema(SmsConfigSchema):
    """A voice contact point: a phone number in E.164 form, as for SMS."""


@register
class VoiceSender(TwilioSender):
    """POSTs `{TWILIO_API_URL}/2010-04-01/Accounts/<sid>/Calls.json` form-encoded, with basic auth: a call
    that says the alert and waits for key 1 ("I'm on it")."""

    channel = "voice"
    rings = True
    max_subject = MAX_SPOKEN
    max_body = MAX_SPOKEN
    config_schema = VoiceConfigSchema

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
        """POST once, asking for the call's final status; the call's SID, the attempt's provider reference."""
        form = {
            "Twiml": self.twiml(message),
            "StatusCallback": self.config["PUBLIC_URL"].rstrip("/") + STATUS_CALLBACK_PATH,
        }
        return self.create("Calls.json", message, form)
