"""Who should hear about an alert, and on which channels."""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from nootification.extensions import db
from nootification.models import Alert, Level, Severity, User, user_locations
from nootification.services.contacts import contacts_of
from nootification.services.routing import routed_channels


def severity_for(label: str, critical_labels: tuple[str, ...]) -> Severity:
    """The severity of an alert label: critical when configured so, standard otherwise."""
    return Severity.CRITICAL if label in critical_labels else Severity.STANDARD


def wants_alert(level: Level, severity: Severity) -> bool:
    """The preference rule: STANDARD users get every alert, CRITICAL users only critical ones."""
    return level is Level.STANDARD or severity is Severity.CRITICAL


@dataclass(frozen=True)
class Recipient:
    """One user to notify on one channel."""

    user: User
    channel: str


def staff_of(alert: Alert) -> list[User]:
    """The users attached to the alert's location, with their contact points loaded."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(user_locations, user_locations.c.user_id == User.id)
            .where(user_locations.c.location_id == alert.location.id)
            .options(selectinload(User.contact_points))
            .order_by(User.id)
        )
    )


def recipients_for(alert: Alert) -> list[Recipient]:
    """Each (user, channel) the alert goes to: a routed channel, an enabled contact, a level that wants it."""
    allowed = routed_channels(alert)
    return [
        Recipient(user, contact.channel)
        for user in staff_of(alert)
        for contact in contacts_of(user)
        if contact.enabled
        and wants_alert(contact.level, alert.severity)
        and (allowed is None or contact.channel in allowed)
    ]
