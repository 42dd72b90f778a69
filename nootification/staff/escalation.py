"""Escalation: a critical alert nobody claims in time goes to its shop's next tier, then the next.

Driven from the database: an alert waiting for its next step has `next_escalation_at`, which each sweep
reads, so a Redis restart or a killed scheduler delays a step by a sweep at most and loses none. A step is a
compare-and-set on the alert (its step, and nobody on it), so two sweeps never take the same step; a claim
clears `next_escalation_at`, which stops every later step. A step's deliveries are ordinary deliveries
(ledger, retries, breaker), marked with the step; someone already told on a channel (on a device channel, on
that device) is not told again there.
"""

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from nootification.delivery.outbox import enqueue
from nootification.delivery.publish import delivery_rows, queued_now, recipients_on
from nootification.extensions import db
from nootification.models import Alert, AlertEscalation, Delivery, DeliveryKind, EscalationTier
from nootification.observability import metrics
from nootification.services.recipients import tier_staff

log = logging.getLogger(__name__)

ALERTS = Alert.__table__
DELIVERIES = Delivery.__table__
DUE_BATCH = 100


def _last_tier(location_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(EscalationTier.tier), 1)).where(
            EscalationTier.location_id == location_id
        )
    )


def _take_step(alert: Alert, step: int, next_at: datetime | None) -> bool:
    taken = db.session.execute(
        sa.update(ALERTS)
        .where(
            ALERTS.c.id == alert.id,
            ALERTS.c.escalation_step == step - 1,
            ALERTS.c.claimed_by_id.is_(None),
            ALERTS.c.next_escalation_at.is_not(None),
        )
        .values(escalation_step=step, next_escalation_at=next_at)
    )
    return taken.rowcount == 1


def escalate(alert: Alert, now: datetime) -> bool:
    """Take the alert's next step unless another sweep took it or someone claimed the alert meanwhile.

    Step n tells tier n + 1. Past the shop's last tier the alert stops waiting, and no step is recorded.
    """
    step, tier = alert.escalation_step + 1, alert.escalation_step + 2
    last = _last_tier(alert.location_id)
    if tier > last:
        db.session.execute(sa.update(ALERTS).where(ALERTS.c.id == alert.id).values(next_escalation_at=None))
        db.session.commit()
        return False
    escalate_after = alert.location.escalate_after
    next_at = now + timedelta(seconds=escalate_after) if tier < last else None
    # Read before the first write, as publishing does: SQLite's one write lock is not held through the reads.
    told = {
        (row.user_id, row.channel, row.contact_point_id)
        for row in db.session.execute(
            sa.select(DELIVERIES.c.user_id, DELIVERIES.c.channel, DELIVERIES.c.contact_point_id).where(
                DELIVERIES.c.alert_id == alert.id, DELIVERIES.c.kind == DeliveryKind.ALERT
            )
        )
    }
    recipients = [
        recipient
        for recipient in recipients_on(alert, tier_staff(alert.location_id, tier))
        if (recipient.user_id, recipient.channel, recipient.contact_point_id) not in told
    ]
    if not _take_step(alert, step, next_at):
        db.session.rollback()
        return False
    rows = [
        {**row, "alert_id": alert.id, "escalation_step": step}
        for row in delivery_rows(alert, recipients, now, ladder_start=now)
    ]
    if rows:
        db.session.execute(DELIVERIES.insert(), rows)
    reason = f"nobody claimed it within {escalate_after:g} s"
    db.session.add(
        AlertEscalation(alert_id=alert.id, step=step, tier=tier, at=now, reason=reason, deliveries=len(rows))
    )
    db.session.commit()
    metrics.record_escalation(tier)
    enqueue(queued_now(rows))
    log.info(
        "alert %s: escalation step %d, tier %d told (%d deliveries): %s",
        alert.alert_uuid,
        step,
        tier,
        len(rows),
        reason,
    )
    return True


def escalate_due(now: datetime) -> int:
    """Take every step that is due; how many were taken."""
    due = db.session.scalars(
        sa.select(Alert)
        .where(Alert.next_escalation_at <= now, Alert.claimed_by_id.is_(None))
        .order_by(Alert.next_escalation_at)
        .limit(DUE_BATCH)
    ).all()
    return sum(escalate(alert, now) for alert in due)
