"""Schemas of a receipt from the phone: what it reports, and the delivery's receipts as they stand."""

from marshmallow import EXCLUDE, Schema, fields, validate

from nootification.staff.receipts import ReceiptState


class ReceiptInSchema(Schema):
    """A phone's report on one delivery; `link` is the staff link of the message (a service worker has no
    token), else the request carries the member of staff's `preferences:self` token."""

    class Meta:
        unknown = EXCLUDE

    state = fields.Enum(ReceiptState, by_value=True, required=True)
    link = fields.String(validate=validate.Length(min=1, max=200), load_default=None)


class ReceiptSchema(Schema):
    """A delivery's receipts: when the phone said the notification arrived, and when it was opened."""

    delivery_id = fields.String(attribute="id")
    channel = fields.String()
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    seen_at = fields.DateTime(allow_none=True)
