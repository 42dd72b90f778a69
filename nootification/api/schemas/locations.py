"""Schemas of `/locations`: a shop, and the fields of one that can change."""

from marshmallow import Schema, ValidationError, fields, validate, validates

from nootification.api.fields import LOCATION_NAME_MAX, LocationName, valid_timezone

MAX_ESCALATE_AFTER = 24 * 3600
MAX_TIERS = 5
MAX_TIER_PEOPLE = 50


def escalate_after_field(**kwargs) -> fields.Float:
    """Seconds a critical alert may stay unclaimed before it goes to the next tier; 0 turns it off."""
    return fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_ESCALATE_AFTER),
        metadata={
            "description": "Seconds a critical alert may stay unclaimed before the next tier; 0: never."
        },
        **kwargs,
    )


def escalation_field(**kwargs) -> fields.List:
    """The tiers after the shop's own staff: a list of tiers, each a list of user UUIDs."""
    return fields.List(
        fields.List(fields.UUID(), validate=validate.Length(min=1, max=MAX_TIER_PEOPLE)),
        validate=validate.Length(max=MAX_TIERS),
        metadata={
            "description": "Tier 2 first (the shop's managers, say), then tier 3 (the area manager or the "
            "security company): each a list of user UUIDs, told in turn while a critical alert is unclaimed."
        },
        **kwargs,
    )


class LocationSchema(Schema):
    """A shop, for the admin API."""

    name = LocationName(required=True)
    display_name = fields.String(validate=validate.Length(min=1, max=LOCATION_NAME_MAX))
    timezone = fields.String(load_default="UTC", validate=valid_timezone)
    escalate_after = escalate_after_field(load_default=60.0)
    escalation = escalation_field(load_default=list)
    claim_follow_up = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Once someone is on an alert, a short follow-up to the others on channels "
            "whose message cannot be edited (SMS, email, Teams, webhook); else nothing there."
        },
    )

    @validates("name")
    def _no_edge_spaces(self, value: str, data_key: str) -> None:
        # An alert naming " Carrefour" would otherwise reach a shop that looks like "Carrefour".
        if value != value.strip():
            raise ValidationError("Must not begin or end with a space.")


class LocationUpdateSchema(Schema):
    """The fields of a shop that can change; its name is its identity."""

    display_name = fields.String(validate=validate.Length(min=1, max=LOCATION_NAME_MAX))
    timezone = fields.String(validate=valid_timezone)
    escalate_after = escalate_after_field()
    escalation = escalation_field()
    claim_follow_up = fields.Boolean()
