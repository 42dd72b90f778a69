"""Schemas of `POST /webhooks/alerts` and `/webhooks/alerts/batch`: the alerts as posted, and the answers."""

import time
from datetime import UTC, datetime

from flask import current_app
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_dump, post_load, validate, validates

from nootification.api.fields import LocationName
from nootification.api.schemas.alerts import AlertSchema
from nootification.delivery.ingest_batch import BatchItem

EARLIEST_TIME_SPOTTED = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
MAX_SECONDS_AHEAD = 24 * 3600
MAX_BATCH_ALERTS = 100
# A hundred alerts, each up to its 2 KiB url and the rest, with room for JSON escapes.
MAX_BATCH_BYTES = 512 * 1024


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


class BatchAlertField(fields.Nested):
    """An item of a batch, read as the single webhook reads an alert; a refused item keeps its field reasons
    instead of refusing the whole batch."""

    def _deserialize(self, value, attr, data, **kwargs) -> BatchItem:
        try:
            return BatchItem(alert=super()._deserialize(value, attr, data, **kwargs))
        except ValidationError as error:
            sent = value.get("alert_uuid") if isinstance(value, dict) else None
            return BatchItem(errors=error.messages, alert_uuid=sent if isinstance(sent, str) else None)


class AlertBatchInSchema(Schema):
    """Up to MAX_BATCH_ALERTS alerts in one body, each in the single webhook's wire format."""

    class Meta:
        unknown = EXCLUDE

    alerts = fields.List(
        BatchAlertField(AlertInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_ALERTS),
        metadata={
            "description": f"1 to {MAX_BATCH_ALERTS} alerts, each as `POST /webhooks/alerts` takes it."
        },
    )


class BatchItemResultSchema(Schema):
    """What became of one item of a batch."""

    index = fields.Integer(
        required=True, metadata={"description": "The item's position in `alerts`, from 0."}
    )
    status = fields.Integer(
        required=True,
        metadata={
            "enum": [201, 200, 409, 422],
            "description": "201 stored; 200 already stored with the same content; 409 already stored with "
            "other content; 422 refused (see `errors`).",
        },
    )
    alert_uuid = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The item's alert_uuid; null if it had none."},
    )
    delivery_count = fields.Integer(
        metadata={"description": "Deliveries the alert produced, every channel (201 and 200)."}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "The reasons per field, as the single webhook gives them (409 and 422)."},
    )

    @post_dump
    def _drop_absent(self, data: dict, **kwargs) -> dict:
        return {key: value for key, value in data.items() if value is not None or key == "alert_uuid"}


class AlertBatchResultSchema(Schema):
    """The batch's answer: one result per item, in the order posted."""

    results = fields.List(fields.Nested(BatchItemResultSchema), required=True)
