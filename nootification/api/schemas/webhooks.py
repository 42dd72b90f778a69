"""Schemas of `POST /webhooks/alerts`: the alert as posted, and the answer."""

import time
from datetime import UTC, datetime

from flask import current_app
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates

from nootification.api.fields import LocationName
from nootification.api.schemas.alerts import AlertSchema

EARLIEST_TIME_SPOTTED = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
MAX_SECONDS_AHEAD = 24 * 3600


class AlertInSchema(Schema):
    """An alert as posted by the video-analytics system (the original service's wire format)."""

    class Meta:
        unknown = EXCLUDE

    url = fields.Url(
        required=True, schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2048)
    )
    location = LocationName(required=True)
    alert_uuid = fields.UUID(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=64))
    time_spotted = fields.Float(required=True, allow_nan=False)

    @validates("label")
    def _known_label(self, value: str, data_key: str) -> None:
        if value.strip().lower() not in current_app.config["ALERT_LABELS"]:
            labels = ", ".join(current_app.config["ALERT_LABELS"])
            raise ValidationError(f"Unknown label; expected one of: {labels}.")

    @validates("time_spotted")
    def _plausible_time(self, value: float, data_key: str) -> None:
        if value < EARLIEST_TIME_SPOTTED:
            raise ValidationError("Must be epoch seconds no earlier than 2000-01-01.")
        if value > time.time() + MAX_SECONDS_AHEAD:
            raise ValidationError("Must not be more than a day in the future.")

    @post_load
    def _normalise(self, data: dict, **kwargs) -> dict:
        data["label"] = data["label"].strip().lower()
        data["alert_uuid"] = str(data["alert_uuid"])
        data["time_spotted"] = datetime.fromtimestamp(data["time_spotted"], UTC)
        return data


class AlertCreatedSchema(AlertSchema):
    """The webhook's answer: the stored alert and how many deliveries it produced."""

    delivery_count = fields.Integer(metadata={"description": "Deliveries the alert produced, every channel."})
