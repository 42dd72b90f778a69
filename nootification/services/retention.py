"""Forgetting on time: past RETENTION_CLIP_DAYS an alert's clip URL goes (and with it its staff links),
past RETENTION_MESSAGE_DAYS the texts and addresses its deliveries' ledger quoted go, and so do those of the
records that belong to no alert (a new-device notice) once as old, and the SMS replies received before then
(each holds the number it came from); rows, counts and timings stay.

The purge works in batches of alerts, each its own short transaction, so it never holds a write lock for long.
How it shares the machine is its `Pace`: `flask purge` pauses PURGE_PAUSE_SECONDS after each full batch, so
that a month of backlog does not take the database and the cores from the alerts coming meanwhile; the daily
job, which runs in a delivery engine's loop, stops starting batches after PURGE_SLICE_SECONDS and hands that
loop back (delivery/jobs.py queues the rest).
"""

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryAttempt, SmsReply, utcnow
from nootification.services.audit import record

# Alerts per batch. A batch of a chain's history clears the texts of ~10 deliveries and their attempts per
# alert: at 500 a batch held its row locks for 0.2 s (median) to 2.7 s on a busy machine (bench/volume.py).
PURGE_BATCH = 100
DELIVERIES = Delivery.__table__
ATTEMPTS = DeliveryAttempt.__table__


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed (or, dry, would remove): alerts whose clip went, alerts whose ledger texts went,
    the deliveries and attempts among theirs that quoted a text or an address, and the SMS replies (each
    holds the number it came from)."""

    clips: int
    message_alerts: int
    deliveries: int
    attempts: int
    sms_replies: int = 0
    dry_run: bool = False
    complete: bool = True

    def as_dict(self) -> dict:
        """The counts as a plain mapping (a job's result, an audit row)."""
        return asdict(self)

    def plus(self, earlier: "PurgeReport | None") -> "PurgeReport":
        """These counts added to those of the earlier slices of the same purge."""
        if earlier is None:
            return self
        return replace(
            self,
            clips=self.clips + earlier.clips,
            message_alerts=self.message_alerts + earlier.message_alerts,
            deliveries=self.deliveries + earlier.deliveries,
            attempts=self.attempts + earlier.attempts,
            sms_replies=self.sms_replies + earlier.sms_replies,
        )


@dataclass(frozen=True)
class Pace:
    """How a purge shares the machine: a pause after each full batch, and a moment (`time.monotonic()`)
    past which it starts no new batch (None: it goes on to the end)."""

    pause_seconds: float = 0.0
    deadline: float | None = None

    def may_go_on(self) -> bool:
        """Whether a new batch may start."""
        return self.deadline is None or time.monotonic() < self.deadline

    def after(self, batch: list[int], batch_size: int) -> None:
        """Pause after a full batch (a short one was the last)."""
        if len(batch) == batch_size and self.pause_seconds:
            time.sleep(self.pause_seconds)


@dataclass(frozen=True)
class LedgerCleared:
    """How many deliveries and attempts lost a quoted text or address."""

    deliveries: int
    attempts: int


def _with_text(deliveries: sa.Select) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """Conditions on deliveries (of `deliveries`, a select of ids) and attempts still quoting something."""
    delivery_has_text = sa.and_(DELIVERIES.c.id.in_(deliveries), DELIVERIES.c.last_error.is_not(None))
    attempt_has_text = sa.and_(
        ATTEMPTS.c.delivery_id.in_(deliveries),
        sa.or_(ATTEMPTS.c.error_message.is_not(None), ATTEMPTS.c.provider_ref.is_not(None)),
    )
    return delivery_has_text, attempt_has_text


def count_ledger_texts(deliveries: sa.Select) -> LedgerCleared:
    """How many of these deliveries, and of their attempts, quote a text or an address (a dry run's count)."""
    delivery_has_text, attempt_has_text = _with_text(deliveries)
    return LedgerCleared(
        deliveries=db.session.scalar(
            sa.select(sa.func.count()).select_from(DELIVERIES).where(delivery_has_text)
        ),
        attempts=db.session.scalar(sa.select(sa.func.count()).select_from(ATTEMPTS).where(attempt_has_text)),
    )


def clear_ledger_texts(deliveries: sa.Select) -> LedgerCleared:
    """Remove what these deliveries' ledger quoted: their last errors, their attempts' error messages (a
    provider's answer may echo a number or a text) and provider references (they hold chat ids). Timings,
    statuses and error classes stay. The caller commits."""
    delivery_has_text, attempt_has_text = _with_text(deliveries)
    # Setting updated_at to itself keeps the delivery's timing (its onupdate would stamp the purge's time).
    cleared = db.session.execute(
        sa.update(DELIVERIES)
        .where(delivery_has_text)
        .values(last_error=None, updated_at=DELIVERIES.c.updated_at)
    ).rowcount
    attempts = db.session.execute(
        sa.update(ATTEMPTS).where(attempt_has_text).values(error_message=None, provider_ref=None)
    ).rowcount
    return LedgerCleared(deliveries=cleared, attempts=attempts)


def _deliveries_of(alert_ids: sa.Select | list[int]) -> sa.Select:
    return sa.select(DELIVERIES.c.id).where(DELIVERIES.c.alert_id.in_(alert_ids))


def _without_alert(cutoff: datetime) -> sa.Select:
    """Records that belong to no alert (new-device notices), written before `cutoff`."""
    return sa.select(DELIVERIES.c.id).where(DELIVERIES.c.alert_id.is_(None), DELIVERIES.c.created_at < cutoff)


def _old_replies(cutoff: datetime) -> sa.ColumnElement:
    return SmsReply.received_at < cutoff


def _due(marker: sa.Column, cutoff: datetime) -> sa.Select:
    return sa.select(Alert.id).where(marker.is_(None), Alert.received_at < cutoff)


def _batches(marker: sa.Column, cutoff: datetime, batch_size: int, pace: Pace) -> Iterator[list[int]]:
    """The ids of the next alerts due, a batch at a time, at the purge's pace (the caller commits each). The
    first batch goes whatever the deadline, so that every slice of a purge moves it on."""
    first = True
    while (first or pace.may_go_on()) and (
        ids := list(db.session.scalars(_due(marker, cutoff).limit(batch_size)))
    ):
        yield ids
        pace.after(ids, batch_size)
        first = False


def _remove_clips(cutoff: datetime, now: datetime, batch_size: int, pace: Pace) -> int:
    removed = 0
    for ids in _batches(Alert.clip_removed_at, cutoff, batch_size, pace):
        db.session.execute(sa.update(Alert).where(Alert.id.in_(ids)).values(url=None, clip_removed_at=now))
        db.session.commit()
        removed += len(ids)
    return removed


def _remove_messages(
    cutoff: datetime, now: datetime, batch_size: int, pace: Pace
) -> tuple[int, LedgerCleared]:
    alerts = deliveries = attempts = 0
    for ids in _batches(Alert.messages_removed_at, cutoff, batch_size, pace):
        cleared = clear_ledger_texts(_deliveries_of(ids))
        db.session.execute(sa.update(Alert).where(Alert.id.in_(ids)).values(messages_removed_at=now))
        db.session.commit()
        alerts += len(ids)
        deliveries += cleared.deliveries
        attempts += cleared.attempts
    return alerts, LedgerCleared(deliveries, attempts)


def _any_due(clip_cutoff: datetime, message_cutoff: datetime) -> bool:
    """Whether an alert's clip or ledger texts are still to go."""
    clips, texts = _due(Alert.clip_removed_at, clip_cutoff), _due(Alert.messages_removed_at, message_cutoff)
    return db.session.scalar(sa.select(sa.or_(clips.exists(), texts.exists())))


def _count(query: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def purge(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    pace: Pace = Pace(),
    earlier: PurgeReport | None = None,
) -> PurgeReport:
    """Remove the clips and the ledger texts past their retention as of `now` (dry: only count them), in
    batches of `batch_size` alerts (PURGE_BATCH); what was done, with the counts of its `earlier` slices.
    Stopped by the pace's deadline, the report is not `complete`: a purge with the same `now` goes on."""
    now = now or utcnow()
    batch_size = batch_size or PURGE_BATCH
    config = current_app.config
    clip_cutoff = now - timedelta(days=config["RETENTION_CLIP_DAYS"])
    message_cutoff = now - timedelta(days=config["RETENTION_MESSAGE_DAYS"])
    if dry_run:
        due_messages = _due(Alert.messages_removed_at, message_cutoff)
        ledger = count_ledger_texts(_deliveries_of(due_messages))
        alertless = count_ledger_texts(_without_alert(message_cutoff))
        return PurgeReport(
            clips=_count(_due(Alert.clip_removed_at, clip_cutoff)),
            message_alerts=_count(due_messages),
            deliveries=ledger.deliveries + alertless.deliveries,
            attempts=ledger.attempts + alertless.attempts,
            sms_replies=_count(sa.select(SmsReply.id).where(_old_replies(message_cutoff))),
            dry_run=True,
        )
    clips = _remove_clips(clip_cutoff, now, batch_size, pace)
    message_alerts, ledger = _remove_messages(message_cutoff, now, batch_size, pace)
    if not pace.may_go_on() and _any_due(clip_cutoff, message_cutoff):
        cleared = PurgeReport(clips, message_alerts, ledger.deliveries, ledger.attempts, complete=False)
        return cleared.plus(earlier)
    alertless = clear_ledger_texts(_without_alert(message_cutoff))
    replies = db.session.execute(sa.delete(SmsReply).where(_old_replies(message_cutoff))).rowcount
    db.session.commit()
    report = PurgeReport(
        clips,
        message_alerts,
        ledger.deliveries + alertless.deliveries,
        ledger.attempts + alertless.attempts,
        replies,
    ).plus(earlier)
    if report.clips or report.message_alerts or report.deliveries or report.attempts or report.sms_replies:
        # One row for the whole purge, after its batches and slices: a daily run that found nothing writes
        # none.
        after = report.as_dict()
        record(
            "retention.purge", target_type="retention", target_id=now.isoformat(), before=None, after=after
        )
        db.session.commit()
    return report
