"""Erasure on request (GDPR art. 17): a member of staff's personal data goes, their row stays under a
pseudonym so that alerts, deliveries, claims, outcomes and statistics keep their counts."""

import hashlib

import sqlalchemy as sa

from nootification.errors import Conflict
from nootification.extensions import db
from nootification.models import (
    ApiToken,
    Delivery,
    EscalationTier,
    OffHoursMember,
    Shift,
    SmsReply,
    User,
    VoicePause,
    utcnow,
)
from nootification.services.audit import record, user_state
from nootification.services.directory import get_user
from nootification.services.retention import clear_ledger_texts

ERASED_PREFIX = "Effacé"


def pseudonym(user_uuid: str) -> str:
    """The name an erased user keeps: stable, short, and derived from nothing but the public uuid."""
    return f"{ERASED_PREFIX} {hashlib.sha256(user_uuid.encode()).hexdigest()[:8]}"


def erase_user(user_uuid: str) -> User:
    """Erase a user: name, push address, every contact point (addresses, options), their shops, escalation
    and off-hours tiers and shifts (so no later alert reaches them), the texts and addresses their deliveries'
    ledger quoted, their SMS replies (with the number they came from), their phone number's run of failed
    calls; their tokens are revoked. 404 unknown, 409 already erased."""
    user = get_user(user_uuid)
    if user.erased_at is not None:
        raise Conflict(f"This user was already erased on {user.erased_at.isoformat()}.", field="user_uuid")
    now = utcnow()
    before = user_state(user)
    user.name = pseudonym(user.user_uuid)
    user.push_address = None
    user.erased_at = now
    numbers = [point.address for point in user.contact_points if point.channel == "voice" and point.address]
    db.session.execute(sa.delete(VoicePause).where(VoicePause.number.in_(numbers)))
    user.contact_points = []
    user.locations = []
    db.session.execute(sa.delete(EscalationTier).where(EscalationTier.user_id == user.id))
    db.session.execute(sa.delete(OffHoursMember).where(OffHoursMember.user_id == user.id))
    db.session.execute(sa.delete(Shift).where(Shift.user_id == user.id))
    db.session.execute(sa.delete(SmsReply).where(SmsReply.user_id == user.id))
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    cleared = clear_ledger_texts(sa.select(Delivery.id).where(Delivery.user_id == user.id))
    after = {**user_state(user), "erased_at": now.isoformat(), "ledger_rows_cleared": cleared.attempts}
    record("user.erase", target_type="user", target_id=user.user_uuid, before=before, after=after)
    db.session.commit()
    return user
