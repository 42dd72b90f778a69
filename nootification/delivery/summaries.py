"""A group's summary to a person: one outbound record per person, channel and device, anchored on the group's
first alert and due when the group is summed up; written once however many alerts join (the unique key of an
outbound record drops a second one), its message counted when it is sent (staff/summaries.py)."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite

from nootification.delivery.ladder import steps_of
from nootification.extensions import db
from nootification.models import Delivery, DeliveryKind, DeliveryStatus, new_id
from nootification.senders.registry import channels_that
from nootification.services.recipients import Recipient

DELIVERIES = Delivery.__table__
UNIQUE_KEY = ["alert_id", "user_id", "channel", "contact_point_id", "kind"]
INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def summary_recipients(recipients: Iterable[Recipient], ladder: Sequence | None) -> list[Recipient]:
    """Those of an alert's recipients a summary goes to: never a call, and on a ladder only its first step's
    channels (a summary tells; it does not climb)."""
    rings = set(channels_that("rings"))
    first_step = set(steps_of(ladder)[0].channels) if ladder else None
    return [
        recipient
        for recipient in recipients
        if recipient.channel not in rings and (first_step is None or recipient.channel in first_step)
    ]


def summary_rows(
    recipients: Iterable[Recipient], *, now: datetime, due: datetime, deadline: datetime
) -> list[dict]:
    """A summary's row for each recipient, waiting (`scheduled`) until `due`, not yet tied to its anchor."""
    return [
        {
            "id": new_id(),
            "kind": DeliveryKind.SUMMARY,
            "user_id": recipient.user_id,
            "channel": recipient.channel,
            "contact_point_id": recipient.contact_point_id,
            "status": DeliveryStatus.SCHEDULED,
            "attempts": 0,
            "retry_round": 0,
            "enqueue_count": 0,
            "created_at": now,
            "updated_at": now,
            "deadline_at": deadline,
            "next_attempt_at": due,
        }
        for recipient in recipients
    ]


def add_summaries(rows: Sequence[dict], anchor_alert_id: int) -> None:
    """Write the summaries, in the caller's transaction, anchored on the group's first alert; a person's
    summary on a channel written already (by an earlier alert of the group) is left as it is."""
    if not rows:
        return
    insert = INSERTS[db.session.get_bind().dialect.name](DELIVERIES)
    db.session.execute(
        insert.on_conflict_do_nothing(index_elements=UNIQUE_KEY),
        [{**row, "alert_id": anchor_alert_id} for row in rows],
    )
