"""Alert calls as staff live them: key 1 during the call claims the alert ("I'm on it"); a call nobody took
is placed again while the alert is unclaimed; a number whose calls keep failing is paused.

Key 1 claims as that person through staff/claims.py, so the others are told as for any claim. Another key or
silence says the alert once more, then goodbye. A call that ends `no-answer`, `busy` or `failed` makes its
delivery `scheduled` again, VOICE_RETRY_SECONDS later (a compare-and-set on its status, and only while nobody
claimed the alert), so that the engine places the next call with its ledger, breaker and retries; at most
VOICE_MAX_TRIES calls in all. The number's run of failed calls is counted in services/voice_numbers.py.
"""

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa

from nootification.delivery.provider_receipts import ReceiptResult, record_call_status
from nootification.errors import Conflict, Forbidden
from nootification.extensions import db
from nootification.i18n import DEFAULT_LOCALE, locale_for, translate
from nootification.models import (
    UNNAMED_STAFF,
    Alert,
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    User,
    utcnow,
)
from nootification.observability import metrics
from nootification.senders.twilio.twiml import CLAIM_KEY, ask, gather_url, say_and_hang_up, words_for
from nootification.services.contacts import contact_for
from nootification.services.templates import TemplateRenderError, render_for
from nootification.services.voice_numbers import count_call_end, paused_until
from nootification.staff.claims import claim, ensure_staff_of_shop

log = logging.getLogger(__name__)

VOICE = "voice"
# The ends of a call that did not reach anyone: worth another call while the alert is unclaimed.
CALL_AGAIN_STATUSES = frozenset({"no-answer", "busy", "failed"})
FAILED = "failed"
DELIVERIES = Delivery.__table__
ALERTS = Alert.__table__
ATTEMPTS = DeliveryAttempt.__table__


def answer_key(
    *, delivery_id: str, digits: str, repeated: bool, public_url: str, now: datetime | None = None
) -> str:
    """The TwiML answer to a key pressed (or none) during the call of a delivery; what it did is counted."""
    now = now or utcnow()
    delivery = db.session.get(Delivery, delivery_id)
    if (
        delivery is None
        or delivery.channel != VOICE
        or delivery.kind is not DeliveryKind.ALERT
        or delivery.alert is None
        or delivery.user is None
    ):
        metrics.record_voice_key("unknown")
        return say_and_hang_up("", DEFAULT_LOCALE)
    alert, user = delivery.alert, delivery.user
    locale = locale_for(user.locale, alert.location.locale)
    if digits == CLAIM_KEY:
        result, said = _claim(alert, user, locale, now)
        metrics.record_voice_key(result)
        return say_and_hang_up(said, locale)
    if repeated:
        metrics.record_voice_key("goodbye")
        return say_and_hang_up("", locale)
    try:
        text = render_for(alert, user, VOICE).body
    except TemplateRenderError as error:
        log.warning("delivery %s: the call cannot say the alert again: %s", delivery.id, error)
        metrics.record_voice_key("goodbye")
        return say_and_hang_up("", locale)
    metrics.record_voice_key("repeat")
    return ask(text, gather_url(public_url, delivery.id, repeat=True), locale, repeat=True)


def _claim(alert: Alert, user: User, locale: str, now: datetime) -> tuple[str, str]:
    words = words_for(locale)
    if alert.outcome is not None:
        return "closed", words["closed"]
    try:
        ensure_staff_of_shop(alert, user)
    except Forbidden:
        return "closed", words["closed"]
    try:
        result = "claimed" if claim(alert, user, now) else "yours"
    except Conflict:
        holder = alert.claimed_by.name if alert.claimed_by and alert.claimed_by.name else None
        holder = holder or translate(locale, UNNAMED_STAFF)
        return "taken", words["taken"] % {"holder": holder}
    return result, words[result]


def call_ended(
    *, call_sid: str, status: str, error_code: str | None, config: Mapping, now: datetime | None = None
) -> ReceiptResult:
    """Keep a call's final status on its attempt; count it for the number, and place the call again when
    nobody took it and the alert is still unclaimed."""
    now = now or utcnow()
    receipt = record_call_status(call_sid=call_sid, status=status, error_code=error_code)
    if receipt.result is not ReceiptResult.STORED or receipt.delivery_id is None:
        return receipt.result
    delivery = db.session.get(Delivery, receipt.delivery_id)
    contact = contact_for(delivery.user, VOICE) if delivery is not None and delivery.user else None
    number = contact.address if contact is not None else None
    if number and count_call_end(number, failed=status == FAILED, now=now, config=config):
        log.warning("delivery %s: the number's calls keep failing: it is paused", receipt.delivery_id)
    if status in CALL_AGAIN_STATUSES and not (number and paused_until(number, now)):
        _call_again(receipt.delivery_id, now=now, config=config)
    return receipt.result


def _call_again(delivery_id: str, *, now: datetime, config: Mapping) -> bool:
    """Make the delivery `scheduled` again for another call, unless it had its calls or the alert is claimed
    (or closed); whether it was."""
    placed = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ATTEMPTS)
        .where(ATTEMPTS.c.delivery_id == delivery_id, ATTEMPTS.c.provider_ref.is_not(None))
    )
    if placed >= config["VOICE_MAX_TRIES"]:
        log.info("delivery %s: %d calls placed, none more", delivery_id, placed)
        return False
    due = now + timedelta(seconds=config["VOICE_RETRY_SECONDS"])
    unclaimed = sa.exists().where(
        ALERTS.c.id == DELIVERIES.c.alert_id, ALERTS.c.claimed_by_id.is_(None), ALERTS.c.outcome.is_(None)
    )
    again = db.session.execute(
        sa.update(DELIVERIES)
        .where(
            DELIVERIES.c.id == delivery_id,
            DELIVERIES.c.status == DeliveryStatus.SENT,
            sa.or_(DELIVERIES.c.deadline_at.is_(None), DELIVERIES.c.deadline_at > due),
            unclaimed,
        )
        .values(status=DeliveryStatus.SCHEDULED, next_attempt_at=due, updated_at=now)
    ).rowcount
    db.session.commit()
    if again:
        log.info("delivery %s: nobody took call %d, another at %s", delivery_id, placed, due)
    return bool(again)
