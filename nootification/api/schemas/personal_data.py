"""Schema of `GET /users/<user_uuid>/export`: every personal field the service holds about one person."""

from marshmallow import Schema, fields

from nootification.api.schemas.alerts import OutcomeRecordSchema
from nootification.api.schemas.contact_points import ContactPointSchema
from nootification.api.schemas.preferences import PreferenceSchema
from nootification.models import DeliveryKind, DeliveryStatus, Level, Outcome, Severity


class ShopSchema(Schema):
    """A shop the person works at."""

    name = fields.String()
    display_name = fields.String()
    timezone = fields.String()


class PersonSchema(Schema):
    """The person's own row."""

    user_uuid = fields.String()
    name = fields.String()
    level = fields.Enum(Level, by_value=True)
    locale = fields.String()
    push_address = fields.String(allow_none=True)
    erased_at = fields.DateTime(allow_none=True)
    locations = fields.List(fields.Nested(ShopSchema))
    contact_points = fields.List(fields.Nested(ContactPointSchema))


class TierMembershipSchema(Schema):
    """A shop whose unclaimed critical alerts reach the person at this tier."""

    location = fields.String()
    tier = fields.Integer()


class ShiftOfPersonSchema(Schema):
    """One of the person's shifts at a shop, in UTC."""

    location = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()


class TokenSummarySchema(Schema):
    """One of the person's API tokens: never its value nor its hash."""

    id = fields.Integer()
    name = fields.String()
    scopes = fields.List(fields.String())
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class DeliveryToPersonSchema(Schema):
    """One message of an alert to the person, on one channel."""

    id = fields.String()
    channel = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    escalation_step = fields.Integer()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    seen_at = fields.DateTime(allow_none=True)


class NoticeToPersonSchema(Schema):
    """A notice sent to the person: that someone was on an alert, or that a new phone gets their alerts."""

    id = fields.String()
    kind = fields.Enum(DeliveryKind, by_value=True)
    alert_uuid = fields.String(attribute="alert.alert_uuid", allow_none=True)
    channel = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class AlertSummarySchema(Schema):
    """An alert, as it concerns the person."""

    alert_uuid = fields.String()
    location = fields.String(attribute="location.name")
    label = fields.String()
    severity = fields.Enum(Severity, by_value=True)
    time_spotted = fields.DateTime()
    received_at = fields.DateTime()


class ToldOfSchema(Schema):
    """An alert the person was sent, with their deliveries of it."""

    alert = fields.Nested(AlertSummarySchema)
    deliveries = fields.List(fields.Nested(DeliveryToPersonSchema))


class ClaimSummarySchema(AlertSummarySchema):
    """An alert the person said "I'm on it" for."""

    claimed_at = fields.DateTime()


class OutcomeSummarySchema(AlertSummarySchema):
    """An alert whose latest outcome the person recorded."""

    outcome = fields.Enum(Outcome, by_value=True)
    value_recovered = fields.Method("_value_recovered", allow_none=True)
    note = fields.String(attribute="outcome_note", allow_none=True)
    outcome_at = fields.DateTime()

    def _value_recovered(self, alert) -> float | None:
        cents = alert.outcome_value_cents
        return None if cents is None else cents / 100


class OutcomeRecordOfPersonSchema(OutcomeRecordSchema):
    """An outcome the person recorded, as it was then (a later correction leaves it in place)."""

    alert_uuid = fields.String(attribute="alert.alert_uuid")


class SmsReplyOfPersonSchema(Schema):
    """An SMS the person sent in answer to an alert SMS: from which number, when, and what it did."""

    from_number = fields.String()
    received_at = fields.DateTime()
    result = fields.String()
    alert_uuid = fields.Function(
        lambda reply: reply.alert.alert_uuid if reply.alert else None, allow_none=True
    )


class PersonalDataSchema(Schema):
    """Everything the service holds about one person, as of `exported_at`."""

    exported_at = fields.DateTime()
    user = fields.Nested(PersonSchema)
    preference = fields.Nested(PreferenceSchema)
    escalation = fields.List(fields.Nested(TierMembershipSchema))
    off_hours = fields.List(
        fields.String(),
        metadata={"description": "The shops whose off-hours tier the person is in, by name."},
    )
    shifts = fields.List(
        fields.Nested(ShiftOfPersonSchema),
        metadata={"description": "The person's shifts on shops' rosters, past ones too, by start."},
    )
    tokens = fields.List(fields.Nested(TokenSummarySchema))
    alerts = fields.List(fields.Nested(ToldOfSchema))
    notices = fields.List(
        fields.Nested(NoticeToPersonSchema),
        metadata={"description": "The notices sent to the person, oldest first."},
    )
    sms_replies = fields.List(
        fields.Nested(SmsReplyOfPersonSchema),
        metadata={"description": "The SMS the person answered alert SMS with, oldest first."},
    )
    claims = fields.List(fields.Nested(ClaimSummarySchema))
    outcomes = fields.List(fields.Nested(OutcomeSummarySchema))
    outcome_records = fields.List(fields.Nested(OutcomeRecordOfPersonSchema))
