"""`/users/<user_uuid>/contact-points`: where each user hears, channel by channel (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.contact_points import (
    ContactPointInSchema,
    ContactPointSchema,
    DeviceAddressSchema,
)
from nootification.auth import require_scope
from nootification.services import contacts
from nootification.services.directory import get_user
from nootification.services.tokens import ADMIN

blp = Blueprint(
    "contact_points",
    __name__,
    url_prefix="/users/<user_uuid>/contact-points",
    description="Contact points (admin)",
)
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.response(200, ContactPointSchema(many=True))
@blp.alt_response(404, description="No user with this uuid.")
def list_contact_points(user_uuid: str):
    """The user's stored contact points."""
    return get_user(user_uuid).contact_points


@blp.route("/<channel>", methods=["PUT"])
@blp.arguments(ContactPointInSchema)
@blp.response(200, ContactPointSchema)
@blp.alt_response(404, description="No user with this uuid.")
@blp.alt_response(409, description="The user was erased.")
@blp.alt_response(422, description="Unknown channel, or an address or option the channel refuses.")
def put_contact_point(contact_point: dict, user_uuid: str, channel: str):
    """Create or replace the user's contact point on a channel; the channel's schema validates it. On a device
    channel (fcm, webpush) a user has one point per device: the address names the device, and a new address
    adds one. Only an admin (here) or the user's own token turns a point that was turned off back on."""
    return contacts.set_contact_point(user_uuid, channel, **contact_point)


@blp.route("/<channel>", methods=["DELETE"])
@blp.arguments(DeviceAddressSchema, location="query")
@blp.response(204)
@blp.alt_response(404, description="No such user or contact point.")
def delete_contact_point(device: dict, user_uuid: str, channel: str):
    """Remove the user's contact point on a channel; on a device channel, the device `address` names, or
    every device on it."""
    contacts.delete_contact_point(user_uuid, channel, device.get("address"))
