"""Twilio as it calls back: an incoming SMS posted signed with the account's auth token."""

from itertools import count

from flask import Flask
from twilio.request_validator import RequestValidator

from nootification.senders.twilio.signature import signature

AUTH_TOKEN = "twilio-auth-secret-42"  # channels_app's TWILIO_AUTH_TOKEN
SMS_PATH = "/webhooks/twilio/sms"
OUR_NUMBER = "+15005550006"
_sids = count(1)


def incoming_sms(from_number: str, body: str, sid: str | None = None) -> dict:
    """The form Twilio posts for an SMS sent to our number."""
    sid = sid or f"SM{next(_sids):032x}"
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": from_number,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def post_incoming_sms(app: Flask, form: dict, *, signed: bool = True, client=None):
    """POST an incoming SMS as Twilio does, signed over PUBLIC_URL + path (the same signature as Twilio's own
    library computes: checked here) unless `signed` is False."""
    url = app.config["PUBLIC_URL"].rstrip("/") + SMS_PATH
    ours = signature(AUTH_TOKEN, url, form.items())
    assert ours == RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    headers = {"X-Twilio-Signature": ours} if signed else {}
    return (client or app.test_client()).post(SMS_PATH, data=form, headers=headers)
