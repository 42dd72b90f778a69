"""Schemas of `/ops`: an alert and its deliveries as the ops page's event stream sends them."""

from marshmallow import Schema, fields

from nootification.models import DeliveryKind, DeliveryStatus, Outcome, Severity


class OpsDeliverySchema(Schema):
    """An outbound record on the ops page: a delivery, or a vendor event or notice (`kind`)."""

    id = fields.String()
    kind = fields.Enum(DeliveryKind, by_value=True)
    channel = fields.String()
    user = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    escalation_step = fields.Integer(metadata={"description": "0: the shop's own staff; n: the n-th step."})
    ladder_step = fields.Integer(metadata={"description": "Its step of the shop's ladder; 0: the first."})
    delivered_at = fields.DateTime(allow_none=True, metadata={"description": "The phone said it arrived."})
    seen_at = fields.DateTime(allow_none=True, metadata={"description": "The phone said it was opened."})
    provider_status = fields.String(
        allow_none=True, metadata={"description": "SMS: delivered, undelivered or failed, as Twilio said."}
    )
    provider_error_code = fields.String(allow_none=True)


class OpsEscalationSchema(Schema):
    """An escalation step on the ops page: which tier was told, and when."""

    step = fields.Integer()
    tier = fields.Integer()
    at = fields.DateTime()


class OpsAlertSchema(Schema):
    """An alert on the ops page: its deliveries, who is on it, its escalation and its outcome."""

    alert_uuid = fields.String()
    location = fields.String()
    label = fields.String()
    severity = fields.Enum(Severity, by_value=True)
    url = fields.String(allow_none=True, metadata={"description": "null once past RETENTION_CLIP_DAYS."})
    time_spotted = fields.DateTime()
    received_at = fields.DateTime()
    claimed_by = fields.String(allow_none=True, metadata={"description": "The name of whoever is on it."})
    claimed_at = fields.DateTime(allow_none=True)
    escalation_step = fields.Integer(metadata={"description": "The last step taken; 0: none."})
    next_escalation_at = fields.DateTime(allow_none=True)
    escalations = fields.List(fields.Nested(OpsEscalationSchema))
    ladder_step = fields.Integer(
        metadata={"description": "The highest ladder step that went out; 0: the first."}
    )
    ladder_step_at = fields.DateTime(allow_none=True)
    quiet = fields.String(
        allow_none=True,
        metadata={
            "description": "Why it rang nobody when it came: grouped (a burst's later alert), closed (held "
            "for the shop's opening), silenced; null: it rang."
        },
    )
    group_id = fields.Integer(allow_none=True, metadata={"description": "Its group; null: none."})
    group_size = fields.Integer(metadata={"description": "How many alerts its group holds; 0: no group."})
    group_closes_at = fields.DateTime(
        allow_none=True, metadata={"description": "When its group is summed up (a burst's end, an opening)."}
    )
    outcome = fields.Enum(Outcome, by_value=True, allow_none=True)
    value_recovered = fields.Float(allow_none=True)
    outcome_note = fields.String(allow_none=True)
    outcome_by = fields.String(allow_none=True, metadata={"description": "The name of whoever recorded it."})
    outcome_at = fields.DateTime(allow_none=True)
    deliveries = fields.List(fields.Nested(OpsDeliverySchema))
    outbound = fields.List(
        fields.Nested(OpsDeliverySchema), metadata={"description": "Its vendor events and claim notices."}
    )
