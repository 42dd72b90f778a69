"""Schemas of `/users/<user_uuid>/contact-points`: a contact point as stored and as shown."""

from marshmallow import Schema, fields, validate

from nootification.api.fields import level_field
from nootification.models import Level


class ContactPointInSchema(Schema):
    """A contact point to store for a user on the channel named in the path."""

    address = fields.String(allow_none=True, validate=validate.Length(max=2048))
    options = fields.Dict(keys=fields.String(), load_default=dict)
    enabled = fields.Boolean(load_default=True)
    level = level_field(allow_none=True, load_default=None)


class ContactPointSchema(Schema):
    """A stored contact point; `level` null means the user's level applies."""

    channel = fields.String()
    address = fields.String(allow_none=True)
    options = fields.Dict()
    enabled = fields.Boolean()
    level = fields.Enum(Level, by_value=True, allow_none=True)
    disabled_reason = fields.String(
        allow_none=True,
        metadata={
            "description": "Why it was turned off: its provider said the address is gone. A staff link never"
            " turns a point back on; an admin or the user's own token does."
        },
    )
    disabled_at = fields.DateTime(allow_none=True)


class DeviceAddressSchema(Schema):
    """Which device of a device channel (fcm, webpush) a removal means; every one on the channel if unset."""

    address = fields.String(
        validate=validate.Length(min=1, max=4096),
        metadata={"description": "The device's address: its FCM token or its Web Push endpoint."},
    )
