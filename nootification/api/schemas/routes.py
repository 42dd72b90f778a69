"""Schemas of `/routes`: a routing rule, and the channels of one."""

from marshmallow import Schema, fields, post_load, validate

from nootification.api.fields import LocationName


class RouteSchema(Schema):
    """A routing rule: the channels a label goes out on, for one location or (location null) for all."""

    id = fields.Integer(dump_only=True)
    location = LocationName(attribute="location.name", allow_none=True, load_default=None)
    label = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channels = fields.List(fields.String(validate=validate.Length(min=1, max=32)), required=True)

    @post_load
    def _flatten(self, data: dict, **kwargs) -> dict:
        data["location"] = (data.get("location") or {}).get("name")
        data["label"] = data["label"].strip().lower()
        return data


class RouteUpdateSchema(Schema):
    """The channels of a rule; its location and label are its identity."""

    channels = fields.List(fields.String(validate=validate.Length(min=1, max=32)), required=True)
