"""Phones that register themselves for a user's alerts: each is a contact point of its own, and a new one is
told to the user on their other channels."""

from nootification.delivery.outbox import QueuedJob
from nootification.models import ContactPoint, utcnow
from nootification.services.contacts import register_device
from nootification.staff import device_notices


def add_device(user_uuid: str, channel: str, *, address: str, options: dict, turn_on: bool) -> ContactPoint:
    """Register a phone (see `register_device`); the user hears of a device new to them."""
    notices: list[QueuedJob] = []

    def tell(point: ContactPoint) -> None:
        notices[:] = device_notices.add_notices(point, utcnow())

    registered = register_device(
        user_uuid, channel, address=address, options=options, turn_on=turn_on, on_new=tell
    )
    if registered.new:
        device_notices.queue_notices(notices)
    return registered.point
