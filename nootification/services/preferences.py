"""A user's alerting preference: a level, and optionally a level per channel."""

from dataclasses import dataclass

from nootification.extensions import db
from nootification.models import Level, User
from nootification.services.audit import preference_state, record
from nootification.services.contacts import Contact, contacts_of, set_channel_levels
from nootification.services.directory import get_user


@dataclass(frozen=True)
class Preference:
    """What a user wants: the user's level and each channel's effective level."""

    user_id: str
    level: Level
    channels: list[Contact]


def _preference(user: User) -> Preference:
    return Preference(user_id=user.user_uuid, level=user.level, channels=contacts_of(user))


def get_preference(user_uuid: str) -> Preference:
    """A user's preference."""
    return _preference(get_user(user_uuid))


def set_level(*, user_uuid: str, level: Level, channels: list[dict] | None = None) -> Preference:
    """Store a user's level and, when given, per-channel levels (`[{channel, level?, enabled?}]`)."""
    user = get_user(user_uuid)
    before = preference_state(user)
    if channels:
        set_channel_levels(user, channels)
    user.level = level
    record(
        "preference.set", target_type="user", target_id=user_uuid, before=before, after=preference_state(user)
    )
    db.session.commit()
    return _preference(user)
