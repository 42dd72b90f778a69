"""What every paged list answers beside its items: the count of matches and where the page is."""

from marshmallow import Schema, fields

from nootification.services.pages import TOTAL_LIMIT


class PageSchema(Schema):
    """A page's count of every matching row (up to a bound), whether that is all of them, and the page."""

    total = fields.Integer(
        metadata={
            "description": f"How many rows match in all, counted up to {TOTAL_LIMIT:,}: past it, that bound."
        }
    )
    total_exact = fields.Boolean(
        metadata={
            "description": f"False when more than {TOTAL_LIMIT:,} rows match: `total` is then at least."
        }
    )
    page = fields.Integer()
    page_size = fields.Integer()
