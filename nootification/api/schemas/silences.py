"""Schemas of `/locations/<name>/silences`: a silence as asked for, and as stored."""

from marshmallow import Schema, fields, validate

from nootification.models import SilenceState
from nootification.services.silences import COMMENT_MAX, MAX_SILENCE

MAX_LABELS = 32
AWARE = {"invalid_awareness": "Must carry a UTC offset (e.g. 2027-03-28T08:00:00+02:00, or Z for UTC)."}


class SilenceInSchema(Schema):
    """A new silence of a shop's alerts."""

    labels = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=list,
        validate=validate.Length(max=MAX_LABELS),
        metadata={
            "description": "The alert labels silenced (any case, each one of ALERT_LABELS); [] or absent: "
            "every label."
        },
    )
    starts_at = fields.AwareDateTime(
        error_messages=AWARE,
        metadata={"description": "ISO 8601 with a UTC offset; absent: now."},
    )
    ends_at = fields.AwareDateTime(
        required=True,
        error_messages=AWARE,
        metadata={
            "description": "ISO 8601 with a UTC offset; after starts_at, in the future, at most "
            f"{MAX_SILENCE.days} days after the later of starts_at and now."
        },
    )
    comment = fields.String(
        required=True,
        validate=validate.Length(min=1, max=COMMENT_MAX),
        metadata={"description": "Why: shown to whoever looks at the shop's silences."},
    )
    include_critical = fields.Boolean(
        load_default=False,
        metadata={"description": "Silence critical alerts too; false (the default): they still go out."},
    )


class SilenceSchema(Schema):
    """A silence as stored, with where it stands now."""

    id = fields.String(metadata={"description": "The silence's id (a UUID)."})
    location = fields.String(attribute="location.name")
    labels = fields.List(fields.String(), metadata={"description": "[]: every label."})
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    comment = fields.String()
    include_critical = fields.Boolean()
    created_by = fields.String(
        metadata={"description": "Who made it, as the audit log names an actor (the token's name)."}
    )
    created_at = fields.DateTime()
    ended_at = fields.DateTime(
        allow_none=True, metadata={"description": "When it was ended early, if it was."}
    )
    state = fields.Enum(
        SilenceState,
        by_value=True,
        metadata={"description": "pending (not begun), active, expired (ran out) or ended (ended early)."},
    )
