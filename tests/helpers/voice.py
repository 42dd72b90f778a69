"""Twilio Voice as it calls back: a key pressed during a call, a call's final status, each signed with the
account's auth token by Twilio's own helper library."""

from flask import Flask
from twilio.request_validator import RequestValidator

AUTH_TOKEN = "twilio-auth-secret-42"  # channels_app's TWILIO_AUTH_TOKEN
GATHER_PATH = "/webhooks/twilio/voice"
STATUS_PATH = "/webhooks/twilio/voice-status"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"


def call_form(call_sid: str, status: str, **extra: str) -> dict:
    """The form Twilio posts about a call (a Gather result or a status callback)."""
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": "+15005550006",
        "To": "+33612345678",
        "CallStatus": status,
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def signed_post(app: Flask, path: str, form: dict, *, headers: dict | None = None):
    """POST `form` to `path` (its query included) signed by Twilio's library over PUBLIC_URL + path, unless
    `headers` replaces the signature."""
    url = app.config["PUBLIC_URL"].rstrip("/") + path
    signed = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}
    return app.test_client().post(path, data=form, headers=signed if headers is None else headers)


def press(app: Flask, delivery_id: str, digits: str | None, *, repeat: bool = False, call_sid: str = "CA1"):
    """The Gather result of the call of a delivery: `digits` pressed, or none (silence)."""
    extra = {"Digits": digits} if digits is not None else {}
    path = f"{GATHER_PATH}?delivery={delivery_id}" + ("&repeat=1" if repeat else "")
    return signed_post(app, path, call_form(call_sid, "in-progress", **extra))


def call_status(app: Flask, call_sid: str, status: str, **extra: str):
    """A call's status callback, as Twilio posts it once the call ended."""
    return signed_post(app, STATUS_PATH, call_form(call_sid, status, **extra))
