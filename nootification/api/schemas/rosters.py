"""Schemas of a shop's roster: what an import stored, and the shifts as shown."""

from marshmallow import Schema, fields


class RosterWarningSchema(Schema):
    """A person on a shift whom an alert could not reach."""

    user = fields.String(metadata={"description": "The person's user uuid."})
    reason = fields.String()


class RosterImportSchema(Schema):
    """What a roster import stored."""

    shifts = fields.Integer(
        metadata={"description": "Shifts stored, after joining each person's overlapping or touching ones."}
    )
    people = fields.Integer(metadata={"description": "People on the roster."})
    warnings = fields.List(
        fields.Nested(RosterWarningSchema),
        metadata={
            "description": "Each person on a shift with no enabled contact point: no alert reaches them."
        },
    )


class ShiftSchema(Schema):
    """One person's shift, in UTC and in the shop's time."""

    user = fields.String(metadata={"description": "The person's user uuid."})
    starts_at = fields.DateTime(metadata={"description": "Start (included), UTC."})
    ends_at = fields.DateTime(metadata={"description": "End (excluded), UTC."})
    starts_at_local = fields.DateTime(metadata={"description": "Start in the shop's timezone."})
    ends_at_local = fields.DateTime(metadata={"description": "End in the shop's timezone."})


class RosterSchema(Schema):
    """A shop's roster: its current and upcoming shifts."""

    updated_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "When the roster was sent; null: no roster, every person attached is told."},
    )
    timezone = fields.String(metadata={"description": "The shop's timezone, the local times' own."})
    shifts = fields.List(
        fields.Nested(ShiftSchema), metadata={"description": "Shifts not over yet, by start."}
    )
