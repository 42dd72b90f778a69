"""`/preferences`: what each user wants to be alerted about."""

from flask_smorest import Blueprint

from nootification.api.schemas.contact_points import ContactPointSchema, DeviceAddressSchema
from nootification.api.schemas.preferences import (
    DeviceInSchema,
    LevelInSchema,
    PreferenceInSchema,
    PreferenceSchema,
)
from nootification.auth import ensure_may_act_for, require_scope
from nootification.security import limit_by_setting
from nootification.services.contacts import forget_device
from nootification.services.preferences import get_preference as preference_of
from nootification.services.preferences import set_level
from nootification.services.tokens import PREFERENCES_SELF
from nootification.staff.devices import add_device

blp = Blueprint("preferences", __name__, url_prefix="/preferences", description="Users' alerting preferences")
blp.before_request(require_scope(PREFERENCES_SELF))
limit_by_setting(blp, "RATELIMIT_PREFERENCES")


@blp.route("", methods=["PUT"], strict_slashes=False)
@blp.arguments(PreferenceInSchema)
@blp.response(200, PreferenceSchema)
@blp.alt_response(404, description="No user with this user_id.")
@blp.alt_response(403, description="A preferences:self token of another user.")
@blp.alt_response(422, description="A bad level, or a channel the user has no contact point on.")
def put_preference(preference: dict):
    """Set a user's level with the original body `{"user_id": ..., "level": ...}`, and optional `channels`."""
    ensure_may_act_for(preference["user_id"])
    return set_level(
        user_uuid=preference["user_id"], level=preference["level"], channels=preference.get("channels")
    )


@blp.route("/<user_id>", methods=["PUT"])
@blp.arguments(LevelInSchema)
@blp.response(200, PreferenceSchema)
@blp.alt_response(404, description="No user with this user_id.")
@blp.alt_response(403, description="A preferences:self token of another user.")
def put_user_preference(preference: dict, user_id: str):
    """Set the level (and optional per-channel levels) of the user named in the path."""
    ensure_may_act_for(user_id)
    return set_level(user_uuid=user_id, level=preference["level"], channels=preference.get("channels"))


@blp.route("/<user_id>", methods=["GET"])
@blp.response(200, PreferenceSchema)
@blp.alt_response(404, description="No user with this user_id.")
@blp.alt_response(403, description="A preferences:self token of another user.")
def get_preference(user_id: str):
    """A user's stored level and each channel's effective level."""
    ensure_may_act_for(user_id)
    return preference_of(user_id)


@blp.route("/<user_id>/devices/<channel>", methods=["PUT"])
@blp.arguments(DeviceInSchema)
@blp.response(200, ContactPointSchema)
@blp.alt_response(404, description="No user with this user_id.")
@blp.alt_response(403, description="A preferences:self token of another user.")
@blp.alt_response(409, description="The user was erased.")
@blp.alt_response(422, description="Not a device channel (fcm, webpush), or an address or keys it refuses.")
def put_device(device: dict, user_id: str, channel: str):
    """A phone registers itself: its FCM registration token, or a Web Push subscription (endpoint as the
    address, `p256dh` and `auth` as options). Each device is a contact point of its own; registering the same
    address again updates its options and turns it back on. The user hears of a new device on their other
    channels."""
    ensure_may_act_for(user_id)
    return add_device(user_id, channel, address=device["address"], options=device["options"], turn_on=True)


@blp.route("/<user_id>/devices/<channel>", methods=["DELETE"])
@blp.arguments(DeviceAddressSchema, location="query")
@blp.response(204)
@blp.alt_response(404, description="No such user, or no device on this channel.")
@blp.alt_response(403, description="A preferences:self token of another user.")
@blp.alt_response(422, description="Not a device channel (fcm, webpush).")
def delete_device(device: dict, user_id: str, channel: str):
    """A phone signs off: its push contact point (the one at `address`; without it, every device on the
    channel) is removed."""
    ensure_may_act_for(user_id)
    forget_device(user_id, channel, device.get("address"))
