"""Schemas of `/locations`: a shop, and the fields of one that can change."""

from marshmallow import Schema, ValidationError, fields, validate, validates

from nootification.api.fields import LOCATION_NAME_MAX, LocationName, valid_timezone
from nootification.i18n import is_shipped, shipped_languages
from nootification.services.opening_hours import MAX_CLOSURES

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


def opening_hours_field(**kwargs) -> fields.Dict:
    """When the shop is open, per weekday, in its timezone; null for always open."""
    return fields.Dict(
        keys=fields.String(),
        # Checked by services/opening_hours.py, whose reasons say what is wrong and where.
        values=fields.Raw(),
        allow_none=True,
        metadata={
            "description": "When the shop is open, in its timezone: per weekday (mon, tue, wed, thu, fri, "
            'sat, sun) a list of ranges ["HH:MM", "HH:MM"]; a range whose end is not after its start runs '
            "past midnight into the next day; a weekday left out or [] is closed. Ranges may not overlap, "
            "nor start where they end; a week with no range at all is refused. null (the default): always "
            "open. Shown with every weekday, ranges sorted.",
            "example": {"mon": [["08:30", "12:30"], ["14:00", "20:00"]], "sat": [["22:00", "04:00"]]},
        },
        **kwargs,
    )


def closures_field(**kwargs) -> fields.List:
    """The dates the shop is closed, whatever its opening hours."""
    return fields.List(
        fields.String(),
        validate=validate.Length(max=MAX_CLOSURES),
        metadata={
            "description": 'Dates ("YYYY-MM-DD", local to the shop) it is closed the whole day, whatever its '
            "opening hours (an always-open shop too): the ranges begun that day do not open, one begun the "
            "evening before ends at midnight. Shown sorted, each once.",
            "example": ["2027-12-25", "2028-01-01"],
        },
        **kwargs,
    )


def off_hours_tier_field(**kwargs) -> fields.List:
    """The people told of the shop's critical alerts while it is closed."""
    return fields.List(
        fields.UUID(),
        validate=validate.Length(max=MAX_TIER_PEOPLE),
        metadata={
            "description": "User UUIDs of the people (a manager on call, a security company) told of the "
            "shop's critical alerts while it is closed, instead of its staff; each once."
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
    opening_hours = opening_hours_field(load_default=None)
    closures = closures_field(load_default=list)
    off_hours_tier = off_hours_tier_field(load_default=list)

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
    opening_hours = opening_hours_field()
    closures = closures_field()
    off_hours_tier = off_hours_tier_field()
