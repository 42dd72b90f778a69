"""Schemas of `/locations`: a shop, and the fields of one that can change."""

from marshmallow import Schema, ValidationError, fields, validate, validates

from nootification.api.fields import LOCATION_NAME_MAX, LocationName, valid_timezone
from nootification.i18n import is_shipped, shipped_languages

MAX_ESCALATE_AFTER = 24 * 3600
MAX_GROUP_WINDOW = 3600
MAX_TIERS = 5
MAX_TIER_PEOPLE = 50
MAX_LADDER_STEPS = 6
MAX_STEP_CHANNELS = 16


class LadderStepSchema(Schema):
    """One step of a shop's fallback ladder: after so many seconds, these channels."""

    after_seconds = fields.Float(
        required=True,
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_ESCALATE_AFTER),
        metadata={"description": "Seconds after the alert was received (0 for the first step)."},
    )
    channels = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        required=True,
        validate=validate.Length(min=1, max=MAX_STEP_CHANNELS),
        metadata={"description": "The channels of this step, each in one step only."},
    )


def ladder_field(**kwargs) -> fields.List:
    """The fallback ladder of the shop's critical alerts: steps, the first at 0 s, each later one after a
    longer wait; none (null or []) for no ladder."""
    return fields.List(
        fields.Nested(LadderStepSchema),
        allow_none=True,
        validate=validate.Length(max=MAX_LADDER_STEPS),
        metadata={
            "description": "The fallback ladder of the shop's critical alerts, e.g. push at 0 s, SMS at "
            "30 s, a call at 90 s: each person told gets each later step on its channels while nobody is "
            "on the alert and they have not opened it; the ladder's channels replace the routing rules "
            "for critical alerts. null or []: no ladder."
        },
        **kwargs,
    )


def locale_field(**kwargs) -> fields.String:
    """The language of the shop's staff, as a BCP 47 tag whose language we have texts in."""
    return fields.String(
        validate=_shipped_locale,
        metadata={
            "description": "The language the shop's staff read and hear (BCP 47, e.g. fr-FR or en; one "
            f"of the languages {', '.join(shipped_languages())}), unless a member of staff has their own "
            "locale."
        },
        **kwargs,
    )


def _shipped_locale(value: str) -> None:
    if not is_shipped(value):
        raise ValidationError(
            f"Not a locale whose language we have texts in ({', '.join(shipped_languages())}), e.g. fr-FR."
        )


def group_window_field(**kwargs) -> fields.Integer:
    """Seconds after a first alert within which alerts of its label form its group; null: the default."""
    return fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_GROUP_WINDOW),
        metadata={
            "description": "Alerts of one label at the shop within this many seconds of the first form a "
            "group: the first rings at once, each person gets one summary per channel of the others when "
            "the window ends (an edit of the first message on Slack and Telegram). 0: no grouping (nor a "
            "cap per person); null: the service's default (GROUP_WINDOW_SECONDS, 120)."
        },
        **kwargs,
    )


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
    locale = locale_field(load_default="en")
    escalate_after = escalate_after_field(load_default=60.0)
    escalation = escalation_field(load_default=list)
    ladder = ladder_field(load_default=None)
    group_window_seconds = group_window_field(load_default=None)
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
    locale = locale_field()
    escalate_after = escalate_after_field()
    escalation = escalation_field()
    ladder = ladder_field()
    group_window_seconds = group_window_field()
    claim_follow_up = fields.Boolean()
