"""Silences: spans during which a shop's alerts of some labels reach nobody; made, listed, ended early, and
the rule that says which one holds an alert."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nootification.errors import Conflict, InvalidInput, NotFound
from nootification.extensions import db
from nootification.models import Severity, Silence, SilenceState, utcnow
from nootification.services.audit import current_actor, record, silence_state
from nootification.services.directory import get_location

COMMENT_MAX = 500
# A silence forgotten for months would hide a shop's thefts: a longer one is made again, on purpose.
MAX_SILENCE = timedelta(days=90)


def _checked_labels(labels: list[str]) -> list[str]:
    """The labels as stored: lower-cased like the webhook's, each known, each once, sorted."""
    known = current_app.config["ALERT_LABELS"]
    normalised = sorted({label.strip().lower() for label in labels})
    unknown = [label for label in normalised if label not in known]
    if unknown:
        raise InvalidInput(
            f"Unknown labels: {', '.join(unknown)}; expected among: {', '.join(known)}.", field="labels"
        )
    return normalised


def _checked_span(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput("Must come after starts_at.", field="ends_at")
    if ends_at <= now:
        raise InvalidInput("Must be in the future: a silence that is over holds nothing.", field="ends_at")
    if ends_at - max(starts_at, now) > MAX_SILENCE:
        raise InvalidInput(f"A silence may last at most {MAX_SILENCE.days} days from now.", field="ends_at")


def create_silence(
    *,
    location_name: str,
    ends_at: datetime,
    comment: str,
    labels: list[str] | None = None,
    starts_at: datetime | None = None,
    include_critical: bool = False,
) -> Silence:
    """Silence a shop's alerts of these labels (none: every label) from `starts_at` (default now) until
    `ends_at`; critical alerts too only with `include_critical`. Times must be timezone-aware."""
    location = get_location(location_name)
    now = utcnow()
    starts_at = starts_at or now
    _checked_span(starts_at, ends_at, now)
    comment = comment.strip()
    if not comment or len(comment) > COMMENT_MAX:
        raise InvalidInput(f"Say why, in 1 to {COMMENT_MAX} characters.", field="comment")
    silence = Silence(
        location=location,
        labels=_checked_labels(labels or []),
        starts_at=starts_at,
        ends_at=ends_at,
        comment=comment,
        include_critical=include_critical,
        created_by=current_actor().name,
        created_at=now,
    )
    db.session.add(silence)
    db.session.flush()  # the silence's id names it in the audit log
    record(
        "silence.create",
        target_type="silence",
        target_id=silence.id,
        before=None,
        after=silence_state(silence),
    )
    db.session.commit()
    return silence


def list_silences(location_name: str) -> list[Silence]:
    """A shop's silences, pending, active and past, newest first."""
    location = get_location(location_name)
    return list(
        db.session.scalars(
            sa.select(Silence)
            .where(Silence.location_id == location.id)
            .order_by(Silence.created_at.desc(), Silence.id)
        )
    )


def end_silence(location_name: str, silence_id: str) -> Silence:
    """End a pending or active silence of the shop now; it is kept, with `ended_at`. 409 if already over."""
    location = get_location(location_name)
    silence = db.session.get(Silence, silence_id)
    if silence is None or silence.location_id != location.id:
        raise NotFound("No silence with this id at this location.")
    now = utcnow()
    state = silence.state_at(now)
    if state in (SilenceState.ENDED, SilenceState.EXPIRED):
        raise Conflict(f"This silence is already over ({state.value}).")
    before = silence_state(silence)
    silence.ended_at = now
    record(
        "silence.end",
        target_type="silence",
        target_id=silence.id,
        before=before,
        after=silence_state(silence),
    )
    db.session.commit()
    return silence


def silence_for(location_id: int, label: str, severity: Severity, at: datetime) -> Silence | None:
    """The silence that holds an alert of this shop, label and severity at `at`, or None; of several, the
    one that ends last."""
    # Of one shop, the silences not yet run out are few: their labels and severity are matched here rather
    # than in each database's own JSON functions.
    candidates = db.session.scalars(
        sa.select(Silence)
        .where(
            Silence.location_id == location_id,
            Silence.ends_at > at,
            Silence.starts_at <= at,
            sa.or_(Silence.ended_at.is_(None), Silence.ended_at > at),
        )
        .order_by(Silence.ends_at.desc(), Silence.id)
    )
    return next((silence for silence in candidates if silence.covers(label, severity)), None)
