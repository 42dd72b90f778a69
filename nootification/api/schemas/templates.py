"""Schemas of `/templates`: a message template, its text, and a preview of it."""

from marshmallow import Schema, fields, validate


class TemplateSchema(Schema):
    """A message template; label and channel may be "*" to match any."""

    id = fields.Integer(dump_only=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channel = fields.String(required=True, validate=validate.Length(min=1, max=32))
    locale = fields.String(required=True, validate=validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"))
    subject = fields.String(load_default="", validate=validate.Length(max=1000))
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    updated_at = fields.DateTime(dump_only=True)


class TemplateUpdateSchema(Schema):
    """The text of a template."""

    subject = fields.String(validate=validate.Length(max=1000))
    body = fields.String(validate=validate.Length(min=1, max=10_000))


class TemplatePreviewInSchema(Schema):
    """What to render a template with: a stored alert, or sample values."""

    alert_uuid = fields.UUID(load_default=None)


class RenderedSchema(Schema):
    """A rendered subject and body."""

    subject = fields.String()
    body = fields.String()
