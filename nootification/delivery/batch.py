"""A batch of deliveries around their sends: leased, checked and recorded as started in one transaction
before any request leaves; the outcomes, retries and final statuses written in one transaction after."""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nootification.delivery import ladder, ledger
from nootification.delivery.attempt import Ready, SlotResult
from nootification.delivery.breakers import Breakers, CircuitOpenError
from nootification.delivery.kinds import kind_of
from nootification.delivery.lease import LeasedDelivery, lease_for, load, renew, still_held, take
from nootification.delivery.messages import UndeliverableError, message_for
from nootification.delivery.retry import Expire, GiveUp, Later, after_failure
from nootification.models import Delivery, DeliveryKind, DeliveryStatus, utcnow
from nootification.observability import metrics
from nootification.senders.base import ContactGoneError, MessageSender, PermanentSendError
from nootification.services.contacts import GoneContact, disable_gone

log = logging.getLogger(__name__)

# Past this, a batch's lease is renewed before its deliveries go to the slots.
LEASE_RENEWAL_AFTER = timedelta(seconds=1)

DELIVERIES = Delivery.__table__
# Hot paths' statements, built once (see delivery/lease.py): every batch's outcomes run them.
WRITE_CHANGE = (
    sa.update(DELIVERIES)
    .where(*still_held())
    .values(
        status=sa.bindparam("c_status"),
        attempts=sa.bindparam("c_attempts"),
        last_error=sa.bindparam("c_last_error"),
        sent_at=sa.bindparam("c_sent_at"),
        next_attempt_at=sa.bindparam("c_next_attempt_at"),
        retry_round=sa.bindparam("c_retry_round"),
        enqueue_count=sa.bindparam("c_enqueue_count"),
        lease_expires_at=None,
        updated_at=sa.bindparam("c_updated_at"),
    )
)
WRITTEN_AT = sa.select(DELIVERIES.c.id).where(
    DELIVERIES.c.id.in_(sa.bindparam("ids", expanding=True)),
    DELIVERIES.c.updated_at == sa.bindparam("written_at"),
)


@dataclass(frozen=True)
class Change:
    """A delivery's new status and the fields that go with it."""

    delivery: LeasedDelivery
    status: DeliveryStatus
    attempts: int
    last_error: str | None = None
    later: Later | None = None
    # The address a push service said is gone: its contact point is turned off with the delivery's failure.
    gone_address: str | None = None


def prepare(
    session: Session,
    delivery_ids: Sequence[str],
    *,
    get_sender: Callable[[str], MessageSender],
    breakers: Breakers,
    config: Mapping,
    now: datetime,
) -> list[Ready]:
    """Lease the deliveries and settle those that cannot be sent now; the rest are ready to send.

    A delivery past its deadline expires, one without a message fails, one whose destination's breaker is
    open is put off; each ready one gets its first attempt recorded as in flight. Two transactions: the
    lease is committed before the breakers, which live in Redis, are asked, so that a stalled Redis holds no
    database lock; a worker that dies between the two leaves deliveries under a lease and no attempt, which
    the sweeper takes back.
    """
    leased = load(session, take(session, delivery_ids, lease_seconds=config["DELIVERY_LEASE"], now=now))
    session.commit()
    ready: list[Ready] = []
    changes: list[Change] = []
    not_needed = ladder.not_needed(session, _ladder_candidates(leased, get_sender))
    for delivery in leased:
        if delivery.deadline_at is not None and now > delivery.deadline_at:
            changes.append(_expired(delivery, "the alert went stale before the delivery could be made"))
            continue
        if delivery.id in not_needed:
            changes.append(
                Change(delivery, DeliveryStatus.CANCELLED, delivery.attempts, not_needed[delivery.id])
            )
            continue
        sender = get_sender(delivery.channel)
        try:
            message = message_for(delivery, sender)
        except ladder.NotNeededError as error:
            changes.append(
                Change(delivery, DeliveryStatus.CANCELLED, delivery.attempts, ledger.trim(str(error)))
            )
            continue
        except UndeliverableError as error:
            log.error("delivery %s cannot be made: %s", delivery.id, error)
            changes.append(
                Change(delivery, DeliveryStatus.FAILED, delivery.attempts, ledger.trim(str(error)))
            )
            continue
        breaker = f"{sender.channel}:{sender.destination(message)}"
        if not breakers.allow(breaker):
            closed = CircuitOpenError(f"circuit {breaker} is open", retry_after=breakers.retry_in(breaker))
            changes.append(_after(delivery, closed, delivery.attempts, config, now))
            continue
        ready.append(Ready(delivery, message, sender, breaker))
    ready = _still_ours(session, ready, config, now)
    ledger.start(session, [(item.delivery.id, item.first_number, now) for item in ready])
    applied = _apply(session, changes, now)
    session.commit()
    _announce(applied)
    ladder.note_steps_reached(session, [item.delivery for item in ready], now)
    return ready


def _ladder_candidates(
    leased: Sequence[LeasedDelivery], get_sender: Callable[[str], MessageSender]
) -> list[ladder.Candidate]:
    """The alert deliveries to check before sending: a later step of a ladder, or a call."""
    candidates = []
    for delivery in leased:
        if delivery.kind is not DeliveryKind.ALERT or delivery.alert_id is None:
            continue
        if delivery.ladder_step > 0 or get_sender(delivery.channel).rings:
            candidates.append(
                ladder.Candidate(delivery.id, delivery.alert_id, delivery.user_id, delivery.ladder_step)
            )
    return candidates


def _still_ours(session: Session, ready: list[Ready], config: Mapping, claimed_at: datetime) -> list[Ready]:
    """The ready deliveries with a lease long enough to send them: when asking the breakers took long (a
    stalled Redis), the lease is renewed, and a delivery the sweeper gave away meanwhile is not sent here."""
    now = utcnow()
    if not ready or now - claimed_at < LEASE_RENEWAL_AFTER:
        return ready
    lease = ready[0].delivery.lease  # one batch, one lease for all
    renewed = lease_for(now, config["DELIVERY_LEASE"])
    kept = renew(session, [item.delivery.id for item in ready], lease=lease, renewed=renewed)
    for item in ready:
        if item.delivery.id not in kept:
            log.warning("delivery %s: given away while its breaker was read; not sent here", item.delivery.id)
    return [
        replace(item, delivery=replace(item.delivery, lease=renewed))
        for item in ready
        if item.delivery.id in kept
    ]


def finish(
    session: Session,
    outcomes: Sequence[tuple[Ready, SlotResult]],
    *,
    config: Mapping,
    now: datetime,
) -> None:
    """Record every attempt of the slots and each delivery's new status (a retry: scheduled, with its due
    time), in one transaction."""
    ledger.finish(
        session, [(item.delivery.id, attempt) for item, slot in outcomes for attempt in slot.attempts]
    )
    # A slot that failed before its first attempt ended (a bug) leaves that attempt's outcome unknown.
    ledger.mark_unknown(session, [item.delivery.id for item, slot in outcomes if not slot.attempts])
    changes = [_change_after_sending(item, slot, config, now) for item, slot in outcomes]
    applied = _apply(session, changes, now)
    gone = [change for change in applied if change.gone_address is not None]
    disable_gone(
        session,
        [GoneContact(c.delivery.id, c.delivery.channel, c.gone_address, c.last_error or "") for c in gone],
        now=now,
    )
    session.commit()
    for item, slot in outcomes:
        for attempt in slot.attempts:
            metrics.record_attempt(item.delivery.channel, ledger.outcome_kind(attempt.error))
    _announce(applied)


def _change_after_sending(item: Ready, slot: SlotResult, config: Mapping, now: datetime) -> Change:
    delivery = item.delivery
    attempts = item.first_number - 1 + len(slot.attempts)
    error = slot.error
    if error is None:
        return Change(delivery, DeliveryStatus.SENT, attempts)
    if isinstance(error, ladder.NotNeededError):
        return Change(delivery, DeliveryStatus.CANCELLED, attempts, ledger.trim(str(error)))
    if isinstance(error, PermanentSendError):
        log.error("delivery %s failed: %s", delivery.id, error)
        gone = item.message.address if isinstance(error, ContactGoneError) else None
        return Change(delivery, DeliveryStatus.FAILED, attempts, ledger.trim(str(error)), gone_address=gone)
    return _after(delivery, error, attempts, config, now)


def _after(delivery: LeasedDelivery, error, attempts: int, config: Mapping, now: datetime) -> Change:
    kind = kind_of(delivery.kind)
    step = after_failure(
        error,
        retry_round=delivery.retry_round,
        deadline=delivery.deadline_at,
        now=now,
        config=config,
        max_rounds=kind.max_rounds(config) if kind else None,
    )
    if isinstance(step, Expire):
        return Change(delivery, DeliveryStatus.EXPIRED, attempts, ledger.trim(step.reason))
    if isinstance(step, GiveUp):
        log.error("delivery %s failed: %s", delivery.id, step.reason)
        return Change(delivery, DeliveryStatus.FAILED, attempts, ledger.trim(step.reason))
    return Change(delivery, DeliveryStatus.SCHEDULED, attempts, ledger.trim(step.reason), later=step)


def _expired(delivery: LeasedDelivery, reason: str) -> Change:
    return Change(delivery, DeliveryStatus.EXPIRED, delivery.attempts, reason)


def _apply(session: Session, changes: Sequence[Change], now: datetime) -> list[Change]:
    """Write the changes of deliveries this worker still holds (its lease unchanged); the ones written."""
    if not changes:
        return []
    session.execute(WRITE_CHANGE, [_values(change, now) for change in changes])
    # Only a delivery whose lease another worker took over since (the sweeper gave it away) is left out.
    written = set(
        session.scalars(WRITTEN_AT, {"ids": [change.delivery.id for change in changes], "written_at": now})
    )
    for change in changes:
        if change.delivery.id not in written:
            log.warning(
                "delivery %s: its lease was taken over; its outcome here is not recorded", change.delivery.id
            )
    return [change for change in changes if change.delivery.id in written]


def _values(change: Change, now: datetime) -> dict:
    delivery, later = change.delivery, change.later
    return {
        "held_id": delivery.id,
        "held_lease": delivery.lease,
        "c_status": change.status,
        "c_attempts": change.attempts,
        "c_last_error": change.last_error,
        "c_sent_at": now if change.status is DeliveryStatus.SENT else None,
        "c_next_attempt_at": later.at if later else None,
        "c_retry_round": delivery.retry_round + (1 if later and later.backoff else 0),
        "c_enqueue_count": delivery.enqueue_count + (1 if later else 0),
        "c_updated_at": now,
    }


def record_final(delivery: LeasedDelivery | Delivery, status: DeliveryStatus) -> None:
    """Count an alert's delivery that reached a final status, with its latencies when sent; the other kinds
    have no alert latency to tell (their attempts are counted by channel all the same)."""
    if delivery.kind is not DeliveryKind.ALERT or delivery.alert is None:
        return
    if status is DeliveryStatus.CANCELLED:
        metrics.record_ladder_cancelled(1)  # not a delivery's fate: nobody needed it
        return
    metrics.record_delivery_final(
        channel=delivery.channel,
        severity=delivery.alert.severity,
        status=status,
        received_at=delivery.alert.received_at,
        time_spotted=delivery.alert.time_spotted,
    )


def _announce(changes: Sequence[Change]) -> None:
    """After the commit: count and log what happened (a retry is its scheduled row, that the engine queues
    when due)."""
    for change in changes:
        delivery = change.delivery
        if change.later is not None:
            metrics.record_reschedule(delivery.channel, "backoff" if change.later.backoff else "circuit_open")
            log.warning("delivery %s: again at %s after: %s", delivery.id, change.later.at, change.last_error)
        else:
            record_final(delivery, change.status)
            log.info(
                "delivery %s: %s", delivery.id, change.status.value, extra={"outcome": change.status.value}
            )
