"""Schema of `POST /ops/ticket`: a ticket for the ops page's event stream."""

from marshmallow import Schema, fields


class TicketSchema(Schema):
    """A short-lived ticket for the ops page's event stream, and how many seconds it stays valid."""

    ticket = fields.String()
    expires_in = fields.Integer()
