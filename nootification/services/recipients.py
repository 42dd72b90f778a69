"""Who should hear about an alert: the shop's staff whose preference wants its severity."""

import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Level, Severity, User, user_locations


def severity_for(label: str, critical_labels: tuple[str, ...]) -> Severity:
    """The severity of an alert label: critical when configured so, standard otherwise."""
    return Severity.CRITICAL if label in critical_labels else Severity.STANDARD


def wants_alert(level: Level, severity: Severity) -> bool:
    """The preference rule: STANDARD users get every alert, CRITICAL users only critical ones."""
    return level is Level.STANDARD or severity is Severity.CRITICAL


def recipients_for(alert: Alert) -> list[User]:
    """The users attached to the alert's location whose preference wants it."""
    staff = db.session.scalars(
        sa.select(User)
        .join(user_locations, user_locations.c.user_id == User.id)
        .where(user_locations.c.location_id == alert.location.id)
        .order_by(User.id)
    )
    return [user for user in staff if wants_alert(user.level, alert.severity)]
