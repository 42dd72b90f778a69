"""Schemas of `/deliveries`: a delivery, its attempts, the list's filters and its pages."""

from datetime import UTC

from marshmallow import Schema, fields, post_load, validate

from nootification.api.fields import CaseInsensitiveEnum, LocationName
from nootification.api.schemas.pages import PageSchema
from nootification.models import DeliveryKind, DeliveryStatus


class DeliverySchema(Schema):
    """One outbound record as shown to clients: an alert's delivery, or a vendor event or notice (`kind`)."""

    id = fields.String()
    kind = fields.Enum(
        DeliveryKind,
        by_value=True,
        metadata={
            "description": "alert: to staff; vendor_event, claim_notice, device_notice, sms_answer "
            "(the answer to an SMS reply): the others."
        },
    )
    user_uuid = fields.String(allow_none=True, metadata={"description": "Null for a vendor event."})
    channel = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    queued_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the phone reported the notification arrived."}
    )
    seen_at = fields.DateTime(allow_none=True, metadata={"description": "When the phone reported it opened."})
    provider_status = fields.String(
        allow_none=True,
        metadata={"description": "What the provider last reported (SMS: delivered, undelivered or failed)."},
    )
    provider_error_code = fields.String(
        allow_none=True, metadata={"description": "The provider's error code with undelivered or failed."}
    )
    escalation_step = fields.Integer(
        metadata={"description": "0: the shop's own staff; n: the alert's n-th escalation step."}
    )
    ladder_step = fields.Integer(
        metadata={
            "description": "Its step of the shop's ladder: 0 the first (sent at once); a later one waits "
            "`scheduled` and is `cancelled` if someone acted first."
        }
    )


class DeliveryAttemptSchema(Schema):
    """One try of a delivery, from the ledger."""

    number = fields.Integer()
    started_at = fields.DateTime()
    # Null while the attempt is in flight, and for good when its outcome is unknown.
    finished_at = fields.DateTime(allow_none=True)
    outcome = fields.String(
        attribute="outcome.value",
        metadata={"description": "in_flight, sent, transient, permanent, or unknown (its worker died)"},
    )
    http_status = fields.Integer(allow_none=True)
    error_class = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    latency_ms = fields.Float(allow_none=True)
    retry_after = fields.Float(allow_none=True)
    provider_status = fields.String(
        allow_none=True,
        metadata={"description": "The provider's receipt of this attempt's message (SMS: delivered, ...)."},
    )
    provider_error_code = fields.String(allow_none=True)
    provider_status_at = fields.DateTime(allow_none=True)


class DeliverySummarySchema(DeliverySchema):
    """A delivery with its alert and its schedule."""

    alert_uuid = fields.String(attribute="alert.alert_uuid")
    location = fields.String(attribute="alert.location.name")
    deadline_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)


class DeliveryDetailSchema(DeliverySummarySchema):
    """A delivery with its alert, its schedule and every attempt."""

    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema), data_key="attempt_log")


class DeliveryQuerySchema(Schema):
    """Filters and page of the delivery list."""

    status = CaseInsensitiveEnum(DeliveryStatus, by_value=True)
    kind = CaseInsensitiveEnum(DeliveryKind, by_value=True)
    location = LocationName()
    channel = fields.String(validate=validate.Length(min=1, max=32))
    alert_uuid = fields.UUID()
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))

    @post_load
    def _normalise(self, data: dict, **kwargs) -> dict:
        if "alert_uuid" in data:
            data["alert_uuid"] = str(data["alert_uuid"])
        return data


class DeliveryPageSchema(PageSchema):
    """A page of deliveries."""

    items = fields.List(fields.Nested(DeliverySummarySchema))
