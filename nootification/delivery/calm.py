"""Who a new alert concerns, and whether it interrupts them now: a silence keeps it from everyone; a closed
shop holds its standard alerts until it opens and takes its critical ones to its off-hours tier; with a
roster, only the people on shift. Every alert is stored and counted whatever this says."""

from dataclasses import dataclass
from datetime import datetime

from nootification.models import Alert, Location, Severity
from nootification.services.opening_hours import next_opening, shop_is_open
from nootification.services.recipients import Staff, has_roster, off_hours_staff, on_shift_staff, staff_of
from nootification.services.silences import silence_for


@dataclass(frozen=True)
class Audience:
    """The people an alert concerns (its floor staff, or its off-hours tier); `silence_id` when a silence
    keeps it from them all; `closed` when it waits for the shop's opening (`held_until`, None when that is
    further than opening hours look ahead); `uncovered` when the shop's roster had nobody on shift."""

    staff: list[Staff]
    silence_id: str | None = None
    held_until: datetime | None = None
    closed: bool = False
    uncovered: bool = False


def floor_staff(shop: Location, at: datetime) -> list[Staff]:
    """The shop's own staff an alert reaches at `at`: everyone attached, or with a roster those on shift."""
    return on_shift_staff(shop.id, at) if has_roster(shop) else staff_of(shop.id)


def night_watch(shop: Location) -> list[Staff]:
    """Who hears of a critical alert while nobody is on the floor: the shop's off-hours tier; without one,
    everyone attached (a theft is never told to nobody for want of a tier)."""
    return off_hours_staff(shop.id) or staff_of(shop.id)


def audience_of(alert: Alert) -> Audience:
    """Whom the alert concerns at its receipt, and whether it may ring them now."""
    shop, now = alert.location, alert.received_at
    silence = silence_for(shop.id, alert.label, alert.severity, now)
    if silence is not None:
        return Audience(staff=[], silence_id=silence.id)
    critical = alert.severity is Severity.CRITICAL
    if shop_is_open(shop, now):
        staff = floor_staff(shop, now)
        if staff or not has_roster(shop):
            return Audience(staff=staff)
        return Audience(staff=night_watch(shop) if critical else [], uncovered=True)
    if critical:
        return Audience(staff=night_watch(shop))
    opens = next_opening(now, hours=shop.opening_hours, closures=shop.closures or [], timezone=shop.timezone)
    return Audience(staff=floor_staff(shop, opens) if opens else [], held_until=opens, closed=True)
