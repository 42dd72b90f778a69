"""Schemas of `/preferences`: a user's level as set, and as stored with each channel's."""

from marshmallow import Schema, fields, validate

from nootification.api.fields import level_field
from nootification.models import Level


class ChannelLevelSchema(Schema):
    """A per-channel preference: its level and whether it is on."""

    channel = fields.String(required=True, validate=validate.Length(min=1, max=32))
    level = level_field()
    enabled = fields.Boolean()


class LevelInSchema(Schema):
    """A preference body for `/preferences/<user_id>`: the level, and optionally per-channel levels."""

    level = level_field(required=True)
    channels = fields.List(fields.Nested(ChannelLevelSchema))


class PreferenceInSchema(LevelInSchema):
    """The original service's preference body `{"user_id": ..., "level": ...}`, optionally with `channels`."""

    user_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class ChannelPreferenceSchema(Schema):
    """The effective level of one channel (push is there even when only implied by the push address)."""

    channel = fields.String()
    level = fields.Enum(Level, by_value=True)
    enabled = fields.Boolean()


class PreferenceSchema(Schema):
    """A user's stored preference, with the effective level of each channel."""

    user_id = fields.String()
    level = fields.Enum(Level, by_value=True)
    channels = fields.List(fields.Nested(ChannelPreferenceSchema))


class DeviceInSchema(Schema):
    """A phone's push address: an FCM registration token, or a Web Push endpoint with its keys in options."""

    address = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    options = fields.Dict(keys=fields.String(), load_default=dict)
