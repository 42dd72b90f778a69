"""The cap per person: nobody is rung for more than MAX_MESSAGES_PER_PERSON alerts of one shop in 10 minutes;
what would pass it waits for the group's summary."""

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind

CAP_PERIOD = timedelta(minutes=10)
ALERTS = Alert.__table__
DELIVERIES = Delivery.__table__


def rung_recently(location_id: int, user_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """How many alerts of this shop rang each of these people in the last 10 minutes (any channel)."""
    users = set(user_ids)
    if not users:
        return {}
    rows = db.session.execute(
        sa.select(DELIVERIES.c.user_id, sa.func.count(sa.distinct(DELIVERIES.c.alert_id)))
        .join(ALERTS, ALERTS.c.id == DELIVERIES.c.alert_id)
        .where(
            ALERTS.c.location_id == location_id,
            DELIVERIES.c.kind == DeliveryKind.ALERT,
            DELIVERIES.c.user_id.in_(users),
            DELIVERIES.c.created_at > now - CAP_PERIOD,
        )
        .group_by(DELIVERIES.c.user_id)
    )
    return {user_id: count for user_id, count in rows}


def capped_people(location_id: int, user_ids: Iterable[int], now: datetime, cap: int) -> set[int]:
    """Of these people, those already rung for `cap` alerts of the shop in the last 10 minutes (0: no cap)."""
    if cap <= 0:
        return set()
    return {user for user, count in rung_recently(location_id, user_ids, now).items() if count >= cap}
