"""Chat buttons that call back: "I'm on it" pressed in Telegram or Slack claims the alert for its recipient.

- `POST /telegram/webhook`: the bot's webhook. Telegram sends each update with the secret token the webhook
  was set with (`X-Telegram-Bot-Api-Secret-Token`, TELEGRAM_WEBHOOK_SECRET); a `callback_query` whose data is
  `claim:<delivery id>`, pressed in the chat that delivery went to, claims the alert for the delivery's user.
  The answer is the `answerCallbackQuery` call itself, which Telegram makes on the webhook's behalf.
- `POST /slack/interactions`: Slack's interactivity requests, signed with the app's signing secret
  (`X-Slack-Signature`, `X-Slack-Request-Timestamp` within 5 minutes, SLACK_SIGNING_SECRET); a `claim`
  action's value is the delivery id, and the answer an ephemeral message to whoever pressed.

A press counts only from the chat the delivery went to and, where the recipient's own chat id is known, only
by them: the contact point's option `user_id` (their Slack or Telegram user id, for a shared channel or a
group), or a Telegram private chat's id (which is its user's). Anyone else is politely refused and nothing is
recorded. Where neither is known, whoever can press in the recipient's chat acts as them. Left out of the
OpenAPI document: they are the providers' formats, not this API's.
"""

import hashlib
import hmac
import json
import time

from flask import Blueprint, current_app, request
from werkzeug.exceptions import ServiceUnavailable, Unauthorized

from nootification.errors import Conflict, NootificationError, accepts_form
from nootification.extensions import db
from nootification.i18n import mark as _
from nootification.i18n import translate
from nootification.models import UNNAMED_STAFF, Alert, Delivery, DeliveryKind, User
from nootification.senders.base import CLAIM_ACTION
from nootification.services.contacts import Contact, contact_for
from nootification.services.directory import language_of
from nootification.staff.claims import claim, ensure_staff_of_shop

blp = Blueprint("chat_buttons", __name__)

SLACK_MAX_AGE_SECONDS = 5 * 60
# The records whose message carries "I'm on it": an alert's, and a group's summary (it claims the group).
CLAIMABLE = (DeliveryKind.ALERT, DeliveryKind.SUMMARY)
# What whoever pressed is told, in the language of the delivery's recipient (the catalog).
ANOTHER_CHAT = _("This button belongs to another chat.")
NOT_YOURS = _("Sorry, this button is for %(name)s: nothing was recorded.")
TAKEN = _("%(holder)s is already on it.")
YOURS = _("You are on it.")


def recipient_id(contact: Contact) -> str | None:
    """The chat user id of the person a contact point's messages are for, where it is known."""
    if contact.options.get("user_id"):
        return str(contact.options["user_id"])
    if contact.channel == "telegram" and str(contact.address).isdigit():
        return str(contact.address)  # a private chat: its id is its user's (groups' are negative)
    return None


def claim_by_button(delivery_id: str, channel: str, pressed_in: str, pressed_by: str) -> str:
    """Claim the alert of a delivery whose button was pressed in `pressed_in` (a chat or channel id) by
    `pressed_by` (a user id); what to tell whoever pressed."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.kind not in CLAIMABLE or delivery.channel != channel:
        return "This alert is no longer known."
    user: User = delivery.user
    alert: Alert = delivery.alert
    locale = language_of(user, alert.location)
    contact = contact_for(user, channel)
    if contact is None or str(contact.address) != pressed_in:
        return translate(locale, ANOTHER_CHAT)
    expected = recipient_id(contact)
    if expected is not None and expected != pressed_by:
        return translate(locale, NOT_YOURS, name=user.shown_name)
    try:
        ensure_staff_of_shop(alert, user)
        claim(alert, user)
    except Conflict:
        claimer = alert.claimed_by
        holder = claimer.name if claimer is not None and claimer.name else translate(locale, UNNAMED_STAFF)
        return translate(locale, TAKEN, holder=holder)
    except NootificationError as refused:
        return refused.message
    return translate(locale, YOURS)


def _object(value: object) -> dict:
    # A provider's payload as it should be: a field that is not an object reads as an empty one.
    return value if isinstance(value, dict) else {}


def _required_secret(name: str) -> str:
    secret = current_app.config[name]
    if not secret:
        raise ServiceUnavailable(f"{name} is not set: this endpoint is off.")
    return secret


@blp.post("/telegram/webhook")
def telegram_update():
    """One update from Telegram: a pressed "I'm on it" button claims; anything else is acknowledged."""
    secret = _required_secret("TELEGRAM_WEBHOOK_SECRET")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise Unauthorized("The secret token is wrong.")
    update = request.get_json(silent=True) or {}
    pressed = update.get("callback_query") if isinstance(update, dict) else None
    if not isinstance(pressed, dict):
        return {"ok": True}
    action, _, delivery_id = str(pressed.get("data", "")).partition(":")
    chat = _object(_object(pressed.get("message")).get("chat")).get("id")
    presser = _object(pressed.get("from")).get("id")
    text = (
        claim_by_button(delivery_id, "telegram", str(chat), str(presser))
        if action == CLAIM_ACTION
        else "Nothing to do for this button."
    )
    return {"method": "answerCallbackQuery", "callback_query_id": pressed.get("id"), "text": text}


def _slack_signature_ok(secret: str) -> bool:
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SLACK_MAX_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + request.get_data()
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), request.headers.get("X-Slack-Signature", "").encode())


@blp.post("/slack/interactions")
@accepts_form
def slack_interaction():
    """One interactivity request from Slack: a pressed "I'm on it" button claims."""
    if not _slack_signature_ok(_required_secret("SLACK_SIGNING_SECRET")):
        raise Unauthorized("The Slack signature is wrong or too old.")
    try:
        payload = json.loads(request.form.get("payload", ""))
    except ValueError:
        payload = {}
    actions = payload.get("actions") if isinstance(payload, dict) else None
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    if action.get("action_id") != CLAIM_ACTION:
        return {"response_type": "ephemeral", "replace_original": False, "text": "Nothing to do."}
    channel = _object(payload.get("channel")).get("id", "")
    presser = _object(payload.get("user")).get("id", "")
    text = claim_by_button(str(action.get("value", "")), "slack", str(channel), str(presser))
    return {"response_type": "ephemeral", "replace_original": False, "text": text}
