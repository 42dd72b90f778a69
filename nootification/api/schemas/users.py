"""Schemas of `/users`: a member of staff, the fields of one that can change, and the list's filter."""

from marshmallow import Schema, fields, post_load, validate

from nootification.api.fields import LocationName, level_field
from nootification.api.schemas.contact_points import ContactPointSchema


class UserSchema(Schema):
    """A member of staff, for the admin API."""

    user_uuid = fields.UUID()
    name = fields.String(validate=validate.Length(max=200))
    level = level_field()
    push_address = fields.String(allow_none=True, validate=validate.Length(max=512))
    locale = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"),
        metadata={"description": "Their own language (BCP 47); null: the language of their shop."},
    )
    contact_points = fields.List(fields.Nested(ContactPointSchema), dump_only=True)
    erased_at = fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "When the person's data was erased."}
    )
    locations = fields.List(
        LocationName(),
        attribute="location_names",
        data_key="locations",
    )

    @post_load
    def _normalise(self, data: dict, **kwargs) -> dict:
        if "user_uuid" in data:
            data["user_uuid"] = str(data["user_uuid"])
        return data


class UserUpdateSchema(UserSchema):
    """The fields of a user that can change; the uuid is its identity."""

    class Meta:
        exclude = ("user_uuid",)


class UserQuerySchema(Schema):
    """Filters for the user list."""

    location = LocationName()
