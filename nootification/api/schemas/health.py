"""Schemas of `GET /health` and `GET /ready`: liveness, and the readiness of each component."""

from marshmallow import Schema, fields


class LivenessSchema(Schema):
    """The process answers."""

    status = fields.String()


class ComponentSchema(Schema):
    """The readiness of one component: its status, what failed, or a detail when it is ok."""

    status = fields.String()
    error = fields.String()
    detail = fields.String()


class ReadinessSchema(Schema):
    """Whether the service can deliver, and the status of each component it needs for that."""

    status = fields.String()
    components = fields.Dict(keys=fields.String(), values=fields.Nested(ComponentSchema))
