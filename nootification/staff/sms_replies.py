"""Replies by SMS: staff answer an alert SMS with a digit, as they would press a button on the staff page.

`1` claims the latest open alert texted to the number ("I'm on it"); `2` to `5` record what happened on it
(theft stopped, theft not stopped, false alarm, nothing found). Each reply from staff gets one answer SMS, an
outbound record of the kind `sms_answer` the engine sends, in their language; anything else gets the help SMS,
at most one per number per SMS_HELP_INTERVAL. A reply from a number that is no staff's changes nothing and is
not answered, so that the number cannot be used to make us text strangers (SMS pumping). Each reply is kept
once by its `MessageSid`: Twilio posting it again acts once.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from nootification.delivery import outbound
from nootification.delivery.lease import LeasedDelivery
from nootification.delivery.messages import UndeliverableError
from nootification.errors import Conflict, Forbidden
from nootification.extensions import db
from nootification.i18n import mark as _
from nootification.i18n import translate
from nootification.models import (
    UNNAMED_STAFF,
    Alert,
    ContactPoint,
    Delivery,
    DeliveryKind,
    Outcome,
    SmsReply,
    User,
    utcnow,
)
from nootification.observability import metrics
from nootification.senders.base import Message, MessageSender
from nootification.services.contacts import contact_for
from nootification.services.directory import language_of
from nootification.staff.claims import (
    ADMIN_AUTHOR,
    claim,
    ensure_staff_of_shop,
    outcome_author,
    record_outcome,
)

CLAIM = "1"
OUTCOMES = {
    "2": Outcome.THEFT_STOPPED,
    "3": Outcome.THEFT_NOT_STOPPED,
    "4": Outcome.FALSE_ALARM,
    "5": Outcome.NOT_FOUND,
}
# A help SMS per number at most this often: a confused or looping sender does not get a flood back.
SMS_HELP_INTERVAL = timedelta(minutes=5)
# An answer later than this would confuse more than it tells.
ANSWER_FRESHNESS = timedelta(minutes=30)
QUIET = "quiet"

# The answers in English, the message ids of their translations in the catalog; every language worded with
# GSM-7 letters only (no ê, no ç): one or two segments, never UCS-2.
HELP = _(
    "Reply 1 if you are going. Then: 2 theft stopped, 3 theft not stopped, 4 false alarm, 5 nothing found."
)
ANSWERS = {
    "claimed": _(
        "Noted, you are on it: %(shop)s. Then reply 2 theft stopped, 3 not stopped, 4 false alarm, "
        "5 nothing found."
    ),
    "yours": _("You are already on it: %(shop)s."),
    "taken": _("%(holder)s is already on it: %(shop)s."),
    "recorded": _("%(holder)s already recorded what happened: %(shop)s."),
    "outcome": _("Thank you, recorded: %(outcome)s (%(shop)s)."),
    "no_alert": _("No open alert to answer."),
}
OUTCOME_WORDS = {
    Outcome.THEFT_STOPPED: _("theft stopped"),
    Outcome.THEFT_NOT_STOPPED: _("theft not stopped"),
    Outcome.FALSE_ALARM: _("false alarm"),
    Outcome.NOT_FOUND: _("nothing found"),
}


def staff_of_number(number: str) -> User | None:
    """The member of staff whose enabled SMS contact point is this number, if any."""
    return db.session.scalar(
        sa.select(User)
        .join(ContactPoint, ContactPoint.user_id == User.id)
        .where(ContactPoint.channel == "sms", ContactPoint.address == number, ContactPoint.enabled)
        .order_by(ContactPoint.id)
        .limit(1)
    )


def latest_open_alert(user: User) -> Alert | None:
    """The latest alert texted to the user (an alert SMS sent) with no outcome yet and its clip still kept."""
    return db.session.scalar(
        sa.select(Alert)
        .join(Delivery, Delivery.alert_id == Alert.id)
        .where(
            Delivery.kind == DeliveryKind.ALERT,
            Delivery.channel == "sms",
            Delivery.user_id == user.id,
            Delivery.sent_at.is_not(None),
            Alert.outcome.is_(None),
            Alert.clip_removed_at.is_(None),
        )
        .order_by(Delivery.sent_at.desc(), Delivery.id)
        .limit(1)
    )


def handle_reply(*, message_sid: str, from_number: str, body: str, now: datetime | None = None) -> str:
    """Act on one incoming SMS as Twilio posted it; what it did (counted): a result kept on its `SmsReply`,
    or `stranger` / `repeat` when nothing was done."""
    now = now or utcnow()
    user = staff_of_number(from_number)
    if user is None:
        metrics.record_sms_reply("stranger")
        return "stranger"
    reply = SmsReply(
        message_sid=message_sid, from_number=from_number, user_id=user.id, result="", received_at=now
    )
    db.session.add(reply)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        metrics.record_sms_reply("repeat")
        return "repeat"
    result, alert = _act(user, body.strip().rstrip(".!").strip(), from_number, reply.id, now)
    reply = db.session.get(SmsReply, reply.id)
    reply.result, reply.alert_id = result, alert.id if alert else None
    jobs = []
    if result != QUIET:
        job = outbound.add(
            kind=DeliveryKind.SMS_ANSWER,
            channel="sms",
            user_id=user.id,
            deadline_at=now + ANSWER_FRESHNESS,
            now=now,
        )
        reply.answer_id = job.delivery_id
        jobs.append(job)
    db.session.commit()
    outbound.queue(jobs)
    metrics.record_sms_reply(result)
    return result


def _act(user: User, word: str, number: str, reply_id: int, now: datetime) -> tuple[str, Alert | None]:
    if word != CLAIM and word not in OUTCOMES:
        return (QUIET if _helped_lately(number, reply_id, now) else "help"), None
    alert = latest_open_alert(user)
    if alert is None:
        return "no_alert", None
    try:
        ensure_staff_of_shop(alert, user)
    except Forbidden:
        return "no_alert", None
    if word == CLAIM:
        try:
            return ("claimed" if claim(alert, user, now) else "yours"), alert
        except Conflict:
            return "taken", alert
    try:
        record_outcome(alert, user, outcome=OUTCOMES[word], now=now)
    except Conflict:
        return "recorded", alert
    return "outcome", alert


def _helped_lately(number: str, reply_id: int, now: datetime) -> bool:
    return db.session.scalar(
        sa.select(
            sa.exists().where(
                SmsReply.from_number == number,
                SmsReply.result == "help",
                SmsReply.received_at > now - SMS_HELP_INTERVAL,
                SmsReply.id != reply_id,
            )
        )
    )


def answer_text(reply: SmsReply, user: User) -> str:
    """What the answer to a reply says, in the user's language."""
    locale = language_of(user, reply.alert.location if reply.alert is not None else None)
    if reply.result == "help":
        return translate(locale, HELP)
    alert = reply.alert
    holder = ""
    if alert is not None:
        holder = outcome_author(alert) if reply.result == "recorded" else _holder(alert)
        holder = translate(locale, holder) if holder in (UNNAMED_STAFF, ADMIN_AUTHOR) else holder
    outcome = ""
    if alert is not None and alert.outcome in OUTCOME_WORDS:
        outcome = translate(locale, OUTCOME_WORDS[alert.outcome])
    shop = alert.location.display_name if alert is not None else ""
    return translate(locale, ANSWERS[reply.result], shop=shop, holder=holder, outcome=outcome)


def _holder(alert: Alert) -> str:
    return alert.claimed_by.shown_name if alert.claimed_by else "?"


def build_message(delivery: LeasedDelivery, sender: MessageSender) -> Message:
    """The answer to a reply as the engine sends it (its builder for `sms_answer`), to the user's number."""
    reply = db.session.scalar(sa.select(SmsReply).where(SmsReply.answer_id == delivery.id))
    user = db.session.get(User, delivery.user_id) if delivery.user_id is not None else None
    contact = contact_for(user, delivery.channel) if user is not None else None
    if reply is None or contact is None or not contact.enabled:
        raise UndeliverableError("the reply or the user's SMS contact point is gone")
    return Message(
        delivery_id=delivery.id,
        user_uuid=user.user_uuid,
        address=contact.address,
        alert_uuid="",
        url="",
        location="",
        label="",
        severity="",
        time_spotted=0.0,
        body=answer_text(reply, user),
        locale=language_of(user, reply.alert.location if reply.alert is not None else None),
        options=contact.options or {},
    )
