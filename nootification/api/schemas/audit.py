"""Schemas of `/audit`: an audit row, the list's filters and its pages."""

from datetime import UTC

from marshmallow import Schema, fields, validate

from nootification.api.schemas.pages import PageSchema


class AuditEntrySchema(Schema):
    """One administrative change as shown to clients."""

    id = fields.Integer()
    at = fields.DateTime()
    actor_token_id = fields.Integer(
        allow_none=True, metadata={"description": "The bearer token's id; null for a CLI command."}
    )
    actor_name = fields.String(
        metadata={"description": "The token's name, or `cli: <command>` for a `flask` command."}
    )
    actor_address = fields.String(allow_none=True, metadata={"description": "The client's address."})
    action = fields.String(metadata={"description": "What was done, e.g. `user.create`, `token.revoke`."})
    target_type = fields.String(
        metadata={"description": "location, user, route, template, token, delivery or alert."}
    )
    target_id = fields.String(metadata={"description": "The target's name, uuid or id."})
    before = fields.Dict(
        allow_none=True, metadata={"description": "Null on a creation; personal fields masked."}
    )
    after = fields.Dict(
        allow_none=True, metadata={"description": "Null on a deletion; personal fields masked."}
    )
    changed = fields.List(
        fields.String(), metadata={"description": "The fields that changed, masked ones included."}
    )


class AuditQuerySchema(Schema):
    """Filters and page of the audit log."""

    target_type = fields.String(validate=validate.Length(min=1, max=32))
    target_id = fields.String(validate=validate.Length(min=1, max=255))
    action = fields.String(validate=validate.Length(min=1, max=64))
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AuditPageSchema(PageSchema):
    """A page of the audit log."""

    items = fields.List(fields.Nested(AuditEntrySchema))
