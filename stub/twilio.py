"""Twilio's Messages and Calls APIs: the SMS and voice channels' provider, and its callbacks.

A message created with a `StatusCallback` URL gets Twilio's callbacks there: `sent`, then `delivered` (or
`undelivered`/`failed` with an `ErrorCode`, as `sms_undelivered_next`/`sms_failed_next` in /control ask), each
form signed with `X-Twilio-Signature` by the auth token of the request's basic auth, as Twilio signs with the
account's token.

A call is recorded on channel `voice` with its TwiML as text and its SID; its final status (`completed`, or
`no-answer`/`busy`/`failed` as `voice_*_next` in /control ask) is posted signed to its `StatusCallback`.
`POST /press/twilio/voice` presses a key during a call: the signed Gather result Twilio posts to the action
URL of the call's TwiML (or to the one given).
"""

import base64
import hashlib
import hmac
import math
import threading
import time
import urllib.parse
import uuid
from email.utils import formatdate
from xml.etree import ElementTree

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.http import HTTP_STATUS_CODES

from stub.callbacks import notify, press
from stub.faults import faulty, inject
from stub.http import json_error, json_object
from stub.state import StubState, store, stub_state

bp = Blueprint("twilio", __name__)

# Twilio's own magic test number for "not a valid phone number" (error 21211).
INVALID_TWILIO_NUMBER = "+15005550001"
TWILIO_MAX_BODY = 1600
TWILIO_MAX_TWIML = 4000
FORM = "application/x-www-form-urlencoded"


# Twilio: errors are {code, message, more_info, status}; its generic codes are 20000 + the HTTP status.
def _twilio_refusal(status: int, code: int, message: str) -> Response:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    response = jsonify({"code": code, "message": message, "more_info": more_info, "status": status})
    response.status_code = status
    return response


def _faulted_or_unauthenticated(sid: str) -> ResponseReturnValue | None:
    """An injected fault, or Twilio's 401 without the account's basic auth; None for a request to serve."""
    fault = inject(stub_state())
    if fault is not None:
        refusal = _twilio_refusal(fault.status, 20000 + fault.status, HTTP_STATUS_CODES[fault.status])
        return faulty(refusal, fault)
    auth = request.authorization
    if auth is None or auth.username != sid or not auth.password:
        return _twilio_refusal(401, 20003, "Authenticate")
    return None


@bp.post("/twilio/2010-04-01/Accounts/<sid>/Messages.json")
def twilio_create_message(sid: str) -> ResponseReturnValue:
    """Twilio's Create a Message: form-encoded To/From/Body with HTTP basic auth; 201 with the message."""
    refused = _faulted_or_unauthenticated(sid)
    if refused is not None:
        return refused
    auth = request.authorization
    form = request.form
    to, sender, text = form.get("To"), form.get("From"), form.get("Body")
    if not to:
        return _twilio_refusal(400, 21604, "A 'To' phone number is required.")
    if not sender:
        return _twilio_refusal(400, 21603, "A 'From' phone number is required.")
    if not text:
        return _twilio_refusal(400, 21602, "Message body is required.")
    if to == INVALID_TWILIO_NUMBER:
        return _twilio_refusal(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if len(text) > TWILIO_MAX_BODY:
        return _twilio_refusal(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    store(stub_state(), "sms", to, text, form.to_dict(), key=request.headers.get("Idempotency-Key"))
    message_sid = f"SM{uuid.uuid4().hex}"
    created = {
        "sid": message_sid,
        "account_sid": sid,
        "to": to,
        "from": sender,
        "body": text,
        "status": "queued",
        "num_segments": str(math.ceil(len(text) / 153)),
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": formatdate(usegmt=True),
        "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
    }
    callback_url = form.get("StatusCallback")
    if callback_url:
        fields = {
            "MessageSid": message_sid,
            "SmsSid": message_sid,
            "AccountSid": sid,
            "From": sender,
            "To": to,
        }
        statuses = threading.Thread(
            target=_post_statuses,
            args=(stub_state(), callback_url, fields, auth.password),
            name=f"twilio-status-{message_sid}",
            daemon=True,
        )
        statuses.start()
    response = jsonify(created)
    response.status_code = 201
    return response


def twilio_signature(auth_token: str, url: str, fields: dict[str, str]) -> str:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 over the URL and each field's name and value, sorted."""
    signed = url + "".join(name + fields[name] for name in sorted(fields))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def _post_statuses(state: StubState, url: str, fields: dict[str, str], auth_token: str) -> None:
    """Post `sent`, then the message's end, to its StatusCallback, as Twilio does once the carrier says."""
    status, error_code, delay = state.draw_sms_status()
    ends = {"MessageStatus": status, "SmsStatus": status}
    if error_code is not None:
        ends["ErrorCode"] = str(error_code)
    for changes in ({"MessageStatus": "sent", "SmsStatus": "sent"}, ends):
        time.sleep(delay)
        form = {**fields, "ApiVersion": "2010-04-01", **changes}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(auth_token, url, form),
        }
        answered = notify(url, urllib.parse.urlencode(form).encode(), headers)
        state.tally(f"twilio_status_{changes['MessageStatus']}_{answered or 'unreached'}")


@bp.post("/twilio/2010-04-01/Accounts/<sid>/Calls.json")
def twilio_create_call(sid: str) -> ResponseReturnValue:
    """Twilio's Create a Call: form-encoded To/From/Twiml with HTTP basic auth; 201 with the call."""
    refused = _faulted_or_unauthenticated(sid)
    if refused is not None:
        return refused
    auth = request.authorization
    form = request.form
    to, sender, twiml = form.get("To"), form.get("From"), form.get("Twiml")
    if not to:
        return _twilio_refusal(400, 21201, "No 'To' number is specified")
    if not sender:
        return _twilio_refusal(400, 21213, "No 'From' number is specified")
    if not twiml:
        return _twilio_refusal(400, 21205, "Url parameter is required.")
    if to == INVALID_TWILIO_NUMBER:
        return _twilio_refusal(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if len(twiml) > TWILIO_MAX_TWIML:
        return _twilio_refusal(400, 21205, "Twiml is longer than 4000 characters.")
    try:
        ElementTree.fromstring(twiml)
    except ElementTree.ParseError as error:
        return _twilio_refusal(400, 12100, f"Document parse failure: {error}")
    state = stub_state()
    call_sid = f"CA{uuid.uuid4().hex}"
    status, delay = state.draw_call_status()
    store(
        state,
        "voice",
        to,
        twiml,
        form.to_dict(),
        key=request.headers.get("Idempotency-Key"),
        sid=call_sid,
        account_sid=sid,
        status=status,
    )
    created = {
        "sid": call_sid,
        "account_sid": sid,
        "to": to,
        "from": sender,
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": formatdate(usegmt=True),
        "uri": f"/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json",
    }
    callback_url = form.get("StatusCallback")
    if callback_url:
        fields = _call_fields(call_sid, sid, sender, to, status)
        if status == "completed":
            fields["CallDuration"] = "12"
        ended = threading.Thread(
            target=_post_call_status,
            args=(state, callback_url, fields, auth.password, delay),
            name=f"twilio-call-{call_sid}",
            daemon=True,
        )
        ended.start()
    response = jsonify(created)
    response.status_code = 201
    return response


def _call_fields(call_sid: str, account_sid: str, sender: str, to: str, status: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": account_sid,
        "From": sender,
        "To": to,
        "CallStatus": status,
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
    }


def _post_call_status(
    state: StubState, url: str, fields: dict[str, str], auth_token: str, delay: float
) -> None:
    """Post the call's final status to its StatusCallback once it ended, as Twilio does."""
    time.sleep(delay)
    headers = {"Content-Type": FORM, "X-Twilio-Signature": twilio_signature(auth_token, url, fields)}
    answered = notify(url, urllib.parse.urlencode(fields).encode(), headers)
    state.tally(f"twilio_call_{fields['CallStatus']}_{answered or 'unreached'}")


@bp.post("/press/twilio/voice")
def press_key() -> ResponseReturnValue:
    """Press a key during a call as Twilio reports it: the Gather result, signed, to the action URL.

    Body: {call_sid, auth_token, digits? (none: silence), url? (default: the Gather action of the call's
    TwiML)}; the answer is the service's TwiML.
    """
    body = json_object() or {}
    call_sid = str(body.get("call_sid", ""))
    calls = [m for m in stub_state().messages(channel="voice") if m.get("sid") == call_sid]
    if not calls:
        return json_error(404, "no such call", {"call_sid": ["No call was placed with this SID."]})
    call = calls[0]
    url = str(body.get("url") or _gather_action(call["text"]))
    fields = _call_fields(
        call_sid, call["account_sid"], call["payload"]["From"], call["address"], "in-progress"
    )
    if body.get("digits"):
        fields["Digits"] = str(body["digits"])
    headers = {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio_signature(str(body.get("auth_token", "")), url, fields),
    }
    return press(url, urllib.parse.urlencode(fields).encode(), headers, mimetype="text/xml")


def _gather_action(twiml: str) -> str:
    gather = ElementTree.fromstring(twiml).find(".//Gather")
    return gather.get("action", "") if gather is not None else ""


@bp.post("/press/twilio/sms")
def send_sms_to_service() -> ResponseReturnValue:
    """An SMS someone sends to the service's number, posted as Twilio posts it: signed, to `url` (the
    service's `PUBLIC_URL/webhooks/twilio/sms`).

    Body: {url, from, body, auth_token, to? (default: the number of the service's latest SMS)}; the answer is
    the service's TwiML.
    """
    request_body = json_object() or {}
    url, sender = str(request_body.get("url", "")), str(request_body.get("from", ""))
    if not sender.startswith("+"):
        return json_error(422, "invalid SMS", {"from": ["An E.164 number is required."]})
    sent = stub_state().messages(channel="sms")
    ours = str(request_body.get("to") or (sent[-1]["payload"].get("From", "") if sent else ""))
    sid = f"SM{uuid.uuid4().hex}"
    fields = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": str(request_body.get("account_sid", "")),
        "From": sender,
        "To": ours,
        "Body": str(request_body.get("body", "")),
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }
    headers = {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio_signature(str(request_body.get("auth_token", "")), url, fields),
    }
    return press(url, urllib.parse.urlencode(fields).encode(), headers, mimetype="text/xml")
