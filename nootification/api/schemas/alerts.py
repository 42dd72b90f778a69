"""Schemas of `/alerts`: a stored alert, with its deliveries, and what a replay sent again."""

from marshmallow import Schema, fields

from nootification.api.fields import EpochSeconds
from nootification.api.schemas.deliveries import DeliverySchema
from nootification.models import Severity


class AlertSchema(Schema):
    """A stored alert."""

    alert_uuid = fields.String()
    url = fields.String()
    location = fields.String(attribute="location.name")
    label = fields.String()
    severity = fields.Enum(Severity, by_value=True)
    time_spotted = EpochSeconds()
    received_at = fields.DateTime()


class AlertDetailSchema(AlertSchema):
    """A stored alert with every delivery it produced."""

    deliveries = fields.List(fields.Nested(DeliverySchema))


class ReplaySchema(Schema):
    """What a replay sent again."""

    alert_uuid = fields.String()
    replayed = fields.Integer()
    deliveries = fields.List(fields.Nested(DeliverySchema))
