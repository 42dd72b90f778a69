"""Who a new alert concerns, and whether it interrupts them now: a silence keeps it from everyone; a closed
shop holds its standard alerts until it opens and takes its critical ones to its off-hours tier; with a
roster, only the people on shift. Every alert is stored and counted whatever this says."""

from dataclasses import dataclass
from datetime import datetime

from nootification.models import Alert, Location, Severity
from nootification.services.opening_hours import is_open, next_opening
from nootification.services.recipients import Staff, off_hours_staff, staff_of
from nootification.services.silences import silence_for


@dataclass(frozen=True)
class Audience:
    """The people an alert concerns; `silence_id` when a silence keeps it from them all, `held_until` when it
    waits for the shop's opening (None: it may ring now), and why it was taken elsewhere (`off_hours`)."""

    staff: list[Staff]
    silence_id: str | None = None
    held_until: datetime | None = None
    closed: bool = False
    off_hours: bool = False

    @property
    def quiet_reason(self) -> str | None:
        """Why nobody is rung now: silenced or closed; None when the alert may ring."""
        if self.silence_id is not None:
            return "silenced"
        return "closed" if self.closed else None


def shop_is_open(shop: Location, at: datetime) -> bool:
    """Whether the shop is open at `at`, by its opening hours and closure dates in its timezone."""
    return is_open(at, hours=shop.opening_hours, closures=shop.closures or [], timezone=shop.timezone)


def audience_of(alert: Alert) -> Audience:
    """Whom the alert concerns at its receipt, and whether it may ring them now."""
    shop, now = alert.location, alert.received_at
    silence = silence_for(shop.id, alert.label, alert.severity, now)
    if silence is not None:
        return Audience(staff=[], silence_id=silence.id)
    if shop_is_open(shop, now):
        return Audience(staff=staff_of(shop.id))
    if alert.severity is Severity.CRITICAL:
        return Audience(staff=off_hours_staff(shop.id), off_hours=True)
    opens = next_opening(now, hours=shop.opening_hours, closures=shop.closures or [], timezone=shop.timezone)
    return Audience(staff=staff_of(shop.id), held_until=opens, closed=True)
