"""A user's alerting preference."""

from nootification.extensions import db
from nootification.models import Level, User
from nootification.services.directory import get_user


def set_level(*, user_uuid: str, level: Level) -> User:
    """Store a user's preference level."""
    user = get_user(user_uuid)
    user.level = level
    db.session.commit()
    return user
