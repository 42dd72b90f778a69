"""Phones that register themselves for a user's alerts: each is a contact point of its own, and a new one is
told to the user on their other channels."""

from nootification.models import ContactPoint
from nootification.services.contacts import register_device
from nootification.staff.device_notices import queue_new_device_notice


def add_device(user_uuid: str, channel: str, *, address: str, options: dict, turn_on: bool) -> ContactPoint:
    """Register a phone (see `register_device`); the user hears of a device new to them."""
    registered = register_device(user_uuid, channel, address=address, options=options, turn_on=turn_on)
    if registered.new:
        queue_new_device_notice(registered.point.id)
    return registered.point
