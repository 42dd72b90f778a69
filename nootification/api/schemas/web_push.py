"""Schemas of Web Push: the server's VAPID public key, and a browser's push subscription."""

from marshmallow import EXCLUDE, Schema, fields, validate


class VapidPublicKeySchema(Schema):
    """The application server key that browsers subscribe with."""

    public_key = fields.String(
        metadata={"description": "The VAPID public key: the uncompressed P-256 point, unpadded base64url."}
    )


class SubscriptionKeysSchema(Schema):
    """A subscription's keys, as the browser gives them (the channel's own schema checks them)."""

    class Meta:
        unknown = EXCLUDE

    p256dh = fields.String(required=True, validate=validate.Length(max=200))
    auth = fields.String(required=True, validate=validate.Length(max=100))


class PushSubscriptionInSchema(Schema):
    """`PushSubscription.toJSON()`: the push service's endpoint and the keys to encrypt for."""

    class Meta:
        unknown = EXCLUDE

    endpoint = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    keys = fields.Nested(SubscriptionKeysSchema, required=True)
