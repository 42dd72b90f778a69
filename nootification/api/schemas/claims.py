"""Schemas of the staff loop: a claim, an outcome as posted, and where an alert stands (for a staff app, and
as a staff link shows it to whoever holds the link)."""

from marshmallow import EXCLUDE, Schema, fields, validate

from nootification.api.fields import CaseInsensitiveEnum
from nootification.models import Outcome

MAX_VALUE_RECOVERED = 10_000_000


class OutcomeInSchema(Schema):
    """What happened, as staff record it."""

    class Meta:
        unknown = EXCLUDE

    outcome = CaseInsensitiveEnum(Outcome, by_value=True, required=True)
    value_recovered = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_VALUE_RECOVERED),
        load_default=None,
        metadata={"description": "The value of the goods recovered, in the shop's currency."},
    )
    note = fields.String(validate=validate.Length(max=500), load_default=None)


class ToldPersonSchema(Schema):
    """Someone the alert was sent to."""

    user_uuid = fields.String()
    name = fields.String()
    channels = fields.List(fields.String())
    reached = fields.Boolean(metadata={"description": "Whether a message got through on one channel."})


class _StateSchema(Schema):
    """What both views of an alert's state share: who is on it and what happened."""

    alert_uuid = fields.String()
    claimed_by = fields.String(allow_none=True, metadata={"description": "The name of whoever is on it."})
    claimed_by_you = fields.Boolean(metadata={"description": "Whether the caller is the one on it."})
    claimed_at = fields.DateTime(allow_none=True)
    outcome = fields.Enum(Outcome, by_value=True, allow_none=True)
    value_recovered = fields.Float(allow_none=True)
    note = fields.String(allow_none=True)
    outcome_by = fields.String(allow_none=True)
    outcome_at = fields.DateTime(allow_none=True)


class ClaimStateSchema(_StateSchema):
    """Who is on an alert, what happened, and who was told."""

    claimed_by_user_uuid = fields.String(allow_none=True)
    told = fields.List(fields.Nested(ToldPersonSchema))


class ColleagueSchema(Schema):
    """Someone the alert was sent to, as a link shows them: a name, and whether a message reached them."""

    name = fields.String()
    reached = fields.Boolean()


class LinkStateSchema(_StateSchema):
    """Where an alert stands, as a staff link shows it: colleagues by name only (no ids, channels or
    addresses), since a link may be forwarded or seen on a screenshot."""

    told = fields.List(fields.Nested(ColleagueSchema))
