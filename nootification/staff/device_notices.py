"""When a new phone registers for a user's alerts, the user hears of it on their other channels, so that a
phone added from a forwarded or stolen link does not go unnoticed: "A new phone now gets your alerts".

Best effort, in a job queued after the registration, as claim notices are: a notice that fails is logged,
not retried. Only the channels a person reads as text; the devices get alerts, not notices.
"""

import logging

from redis.exceptions import RedisError

from nootification.extensions import db, redis_queue
from nootification.models import ContactPoint, User
from nootification.senders import get_sender, sender_class
from nootification.senders.base import Message, SendError

NOTICE_JOB = "nootification.staff.device_notices.tell_of_new_device"
# (subject, body) by language: French for French-speaking staff, English otherwise.
NOTICES = {
    "en": (
        "New phone",
        "A new phone now gets your alerts. If it is not yours, tell your manager, who can turn it off.",
    ),
    "fr": (
        "Nouveau téléphone",
        "Un nouveau téléphone reçoit désormais vos alertes. Si ce n'est pas le vôtre, prévenez votre "
        "responsable, qui peut le désactiver.",
    ),
}

log = logging.getLogger(__name__)


def queue_new_device_notice(point_id: int) -> None:
    """Queue the notice of a new device's contact point; without Redis it is skipped (logged)."""
    try:
        redis_queue.queue.enqueue(NOTICE_JOB, point_id, result_ttl=0)
    except RedisError as error:
        log.warning("contact point %s: the user is not told of the new device (Redis): %s", point_id, error)


def notice_for(user: User) -> tuple[str, str]:
    """The notice's (subject, body) in the user's language."""
    language = user.locale.replace("_", "-").split("-")[0].lower()
    return NOTICES.get(language, NOTICES["en"])


def tell_of_new_device(point_id: int) -> int:
    """Tell the device's user on each of their other enabled text channels; how many notices went out."""
    device = db.session.get(ContactPoint, point_id)
    if device is None:
        return 0
    user = device.user
    subject, body = notice_for(user)
    told = 0
    for point in user.contact_points:
        if point.id == device.id or not point.enabled or not sender_class(point.channel).reads_as_text:
            continue
        message = Message(
            delivery_id=f"new-device-{device.id}-{point.id}",
            user_uuid=user.user_uuid,
            address=point.address,
            alert_uuid="",
            url="",
            location="",
            label="",
            severity="",
            time_spotted=0.0,
            subject=subject,
            body=body,
            options=point.options or {},
        )
        try:
            get_sender(point.channel).send(message)
        except SendError as error:
            log.warning(
                "contact point %s: a %s notice of the new device failed: %s", point_id, point.channel, error
            )
            continue
        told += 1
    log.info(
        "contact point %s: its user was told of the new %s device (%d notices)",
        point_id,
        device.channel,
        told,
    )
    return told
