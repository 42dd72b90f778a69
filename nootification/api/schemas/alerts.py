"""Schemas of `/alerts`: a stored alert, with its deliveries, and what a replay sent again."""

from marshmallow import Schema, fields

from nootification.api.fields import EpochSeconds
from nootification.api.schemas.deliveries import DeliverySchema
from nootification.models import GroupReason, Outcome, OutcomeEventStatus, Severity


class AlertSchema(Schema):
    """A stored alert."""

    alert_uuid = fields.String()
    url = fields.String(
        allow_none=True, metadata={"description": "The clip; null once past RETENTION_CLIP_DAYS."}
    )
    location = fields.String(attribute="location.name")
    label = fields.String()
    severity = fields.Enum(Severity, by_value=True)
    time_spotted = EpochSeconds()
    received_at = fields.DateTime()


class EscalationStepSchema(Schema):
    """One escalation step of an alert."""

    step = fields.Integer()
    tier = fields.Integer()
    at = fields.DateTime()
    reason = fields.String()
    deliveries = fields.Integer(metadata={"description": "Deliveries the step made."})


class OutcomeEventSchema(Schema):
    """The camera vendor's copy of an outcome: its webhook-id, and how far it got."""

    id = fields.String(metadata={"description": "The event's webhook-id, the same on every try."})
    status = fields.Enum(OutcomeEventStatus, by_value=True, attribute="event_status")
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class OutcomeRecordSchema(Schema):
    """One outcome as it was recorded; a correction is a later record, the earlier ones stay."""

    outcome = fields.Enum(Outcome, by_value=True)
    value_recovered = fields.Float(allow_none=True)
    note = fields.String(allow_none=True)
    user_uuid = fields.String(
        allow_none=True,
        metadata={"description": "The member of staff who recorded it; null for an admin token."},
    )
    token_id = fields.Integer(
        allow_none=True, metadata={"description": "The bearer token it came with; null through a staff link."}
    )
    recorded_at = fields.DateTime()


class AlertGroupSchema(Schema):
    """An alert's group: a burst told once, or a closed shop's alerts summed up at its opening."""

    id = fields.Integer()
    reason = fields.Enum(GroupReason, by_value=True)
    label = fields.String(
        allow_none=True, metadata={"description": "A burst's label; null for a closed shop's."}
    )
    first_alert_uuid = fields.String(attribute="first_alert.alert_uuid", allow_none=True)
    opened_at = fields.DateTime()
    closes_at = fields.DateTime(
        metadata={
            "description": "When the group is summed up: a burst's window's end, or the shop's opening."
        }
    )
    size = fields.Integer(metadata={"description": "How many alerts it holds, its first included."})


class AlertDetailSchema(AlertSchema):
    """A stored alert with every delivery it produced, who is on it, what happened, and its escalation."""

    deliveries = fields.List(fields.Nested(DeliverySchema))
    clip_removed_at = fields.DateTime(allow_none=True, metadata={"description": "When the clip URL went."})
    messages_removed_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the texts and addresses its ledger quoted went."}
    )
    claimed_by = fields.String(attribute="claimed_by.user_uuid", allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)
    outcome = fields.Enum(Outcome, by_value=True, allow_none=True)
    outcome_by = fields.String(attribute="outcome_by.user_uuid", allow_none=True)
    outcome_at = fields.DateTime(allow_none=True)
    escalation_step = fields.Integer()
    next_escalation_at = fields.DateTime(allow_none=True)
    escalations = fields.List(fields.Nested(EscalationStepSchema))
    ladder_step = fields.Integer(
        metadata={
            "description": "The highest step of its shop's ladder that went out to someone; 0: the first."
        }
    )
    ladder_step_at = fields.DateTime(allow_none=True, metadata={"description": "When that step went out."})
    outcome_events = fields.List(fields.Nested(OutcomeEventSchema))
    outbound = fields.List(
        fields.Nested(DeliverySchema),
        metadata={
            "description": "The alert's other outbound records, oldest first: its vendor events and the "
            "notices sent once someone claimed it, each with its kind, status and attempts."
        },
    )
    outcome_history = fields.List(
        fields.Nested(OutcomeRecordSchema), metadata={"description": "Every outcome recorded, oldest first."}
    )
    group = fields.Nested(
        AlertGroupSchema,
        allow_none=True,
        metadata={
            "description": "Its group: only a burst's first alert rings, the others are summed up once per "
            "person and channel; a closed shop's standard alerts are summed up at its opening. null: none."
        },
    )
    silence_id = fields.String(
        allow_none=True, metadata={"description": "The silence it fell in (it reached nobody); null: none."}
    )


class ReplaySchema(Schema):
    """What a replay sent again."""

    alert_uuid = fields.String()
    replayed = fields.Integer()
    deliveries = fields.List(fields.Nested(DeliverySchema))
