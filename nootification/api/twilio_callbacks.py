"""Twilio's callbacks, `/webhooks/twilio/*`: each must carry a valid `X-Twilio-Signature`, checked here once.

- `POST /webhooks/twilio/sms-status`: an SMS's status (`MessageSid`, `MessageStatus`, `ErrorCode`); a final
  one is kept on the attempt that sent the message. 204 whatever became of it.
- `POST /webhooks/twilio/sms`: an SMS sent to our number (`From`, `Body`, `MessageSid`): a member of
  staff's reply to an alert SMS (staff/sms_replies.py). Answered with an empty TwiML `<Response/>`: any answer
  SMS is an outbound record the engine sends, never Twilio's reply.
- `POST /webhooks/twilio/voice?delivery=<id>[&repeat=1]`: the key pressed during an alert call (`Digits`;
  none: silence), the action of the call's `<Gather>` (staff/voice.py). Answered with TwiML: what the call
  says next.
- `POST /webhooks/twilio/voice-status`: a call's status (`CallSid`, `CallStatus`, `ErrorCode`); a final one is
  kept on the attempt that placed the call, and a call nobody took is placed again. 204 whatever became of it.

Their own rate limit (RATELIMIT_TWILIO) replaces the per-address default: Twilio posts receipts and replies
from a few addresses, in bursts, and refusing them would lose receipts and replies.

Every request is signed with the account's auth token (TWILIO_AUTH_TOKEN) over `PUBLIC_URL` + path + query
and the form's fields: without a valid signature, 403 and nothing changed. Left out of the OpenAPI document:
they are Twilio's format, not this API's.
"""

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ServiceUnavailable

from nootification.config import read_secret
from nootification.delivery.provider_receipts import record_sms_status
from nootification.errors import Forbidden, InvalidInput, accepts_form
from nootification.security import limit_by_setting
from nootification.senders.twilio.signature import SIGNATURE_HEADER, is_signed
from nootification.staff.sms_replies import handle_reply
from nootification.staff.voice import answer_key, call_ended

blp = Blueprint("twilio_callbacks", __name__, url_prefix="/webhooks/twilio")
limit_by_setting(blp, "RATELIMIT_TWILIO")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def public_url() -> str:
    """The URL Twilio was given for this request: PUBLIC_URL, the path, and the query if any."""
    query = request.query_string.decode("latin-1")
    return current_app.config["PUBLIC_URL"].rstrip("/") + request.path + (f"?{query}" if query else "")


@blp.before_request
def only_twilio() -> None:
    """Refuse, before any view runs, a request that Twilio did not sign with the account's auth token."""
    try:
        token = read_secret("TWILIO_AUTH_TOKEN")
    except OSError:
        token = None
    if not token:
        raise ServiceUnavailable("TWILIO_AUTH_TOKEN is not set: Twilio's callbacks are off.")
    fields = [(name, value) for name, values in request.form.lists() for value in values]
    if not is_signed(token, public_url(), fields, request.headers.get(SIGNATURE_HEADER, "")):
        raise Forbidden("The request is not signed by Twilio (X-Twilio-Signature).")


def _required(name: str) -> str:
    value = request.form.get(name, "")
    if not value:
        raise InvalidInput(f"Twilio's {name} is missing.", field=name)
    return value


@blp.post("/sms-status")
@accepts_form
def sms_status() -> ResponseReturnValue:
    """One SMS status callback: a final status is kept on its attempt; any other is acknowledged."""
    record_sms_status(
        message_sid=_required("MessageSid"),
        status=_required("MessageStatus"),
        error_code=request.form.get("ErrorCode"),
    )
    return "", 204


@blp.post("/sms")
@accepts_form
def incoming_sms() -> ResponseReturnValue:
    """An SMS sent to our number: a staff reply acts and is answered by the engine; Twilio sends nothing."""
    handle_reply(
        message_sid=_required("MessageSid"),
        from_number=_required("From"),
        body=request.form.get("Body", ""),
    )
    return Response(EMPTY_TWIML, mimetype="text/xml")


@blp.post("/voice")
@accepts_form
def voice_key() -> ResponseReturnValue:
    """A key pressed during an alert call, or silence: the TwiML of what the call says next."""
    twiml = answer_key(
        delivery_id=_required_query("delivery"),
        digits=request.form.get("Digits", ""),
        repeated=request.args.get("repeat") == "1",
        public_url=current_app.config["PUBLIC_URL"],
    )
    return Response(twiml, mimetype="text/xml")


@blp.post("/voice-status")
@accepts_form
def voice_status() -> ResponseReturnValue:
    """One call status callback: a final status is kept on its attempt (and may place the call again); any
    other is acknowledged."""
    call_ended(
        call_sid=_required("CallSid"),
        status=_required("CallStatus"),
        error_code=request.form.get("ErrorCode"),
        config=current_app.config,
    )
    return "", 204


def _required_query(name: str) -> str:
    value = request.args.get(name, "")
    if not value:
        raise InvalidInput(f"The {name} of the call is missing from the URL.", field=name)
    return value
