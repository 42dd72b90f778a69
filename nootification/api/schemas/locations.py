"""Schemas of `/locations`: a shop, and the fields of one that can change."""

from marshmallow import Schema, ValidationError, fields, validate, validates

from nootification.api.fields import LOCATION_NAME_MAX, LocationName, valid_timezone


class LocationSchema(Schema):
    """A shop, for the admin API."""

    name = LocationName(required=True)
    display_name = fields.String(validate=validate.Length(min=1, max=LOCATION_NAME_MAX))
    timezone = fields.String(load_default="UTC", validate=valid_timezone)

    @validates("name")
    def _no_edge_spaces(self, value: str, data_key: str) -> None:
        # An alert naming " Carrefour" would otherwise reach a shop that looks like "Carrefour".
        if value != value.strip():
            raise ValidationError("Must not begin or end with a space.")


class LocationUpdateSchema(Schema):
    """The fields of a shop that can change; its name is its identity."""

    display_name = fields.String(validate=validate.Length(min=1, max=LOCATION_NAME_MAX))
    timezone = fields.String(validate=valid_timezone)
