"""Schemas of `/ops`: an alert and its deliveries as the ops page's event stream sends them."""

from marshmallow import Schema, fields

from nootification.models import DeliveryStatus, Severity


class OpsDeliverySchema(Schema):
    """A delivery on the ops page."""

    id = fields.String()
    channel = fields.String()
    user = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


class OpsAlertSchema(Schema):
    """An alert and its deliveries on the ops page."""

    alert_uuid = fields.String()
    location = fields.String()
    label = fields.String()
    severity = fields.Enum(Severity, by_value=True)
    url = fields.String()
    time_spotted = fields.DateTime()
    received_at = fields.DateTime()
    deliveries = fields.List(fields.Nested(OpsDeliverySchema))
