"""Marshmallow schemas for what the API accepts and returns."""

import time
import zoneinfo
from datetime import UTC, datetime

from flask import current_app
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates

from nootification.models import DeliveryStatus, Level, Severity, canonical_level_name

EARLIEST_TIME_SPOTTED = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
MAX_SECONDS_AHEAD = 24 * 3600
LOCATION_NAME_MAX = 255


class CaseInsensitiveEnum(fields.Enum):
    """An enum field that accepts its values in any letter case (a level also as the original's `both`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = canonical_level_name(value) if self.enum is Level else value.lower()
        return super()._deserialize(value, attr, data, **kwargs)


class LocationName(fields.String):
    """A shop's name as the video-analytics system sends it: printable Unicode text, matched exactly."""

    def __init__(self, **kwargs):
        description = (
            f"Printable Unicode text of 1 to {LOCATION_NAME_MAX} characters (spaces, accents, apostrophes, "
            "&), matched exactly: letter case and every character count."
        )
        kwargs.setdefault("metadata", {"description": description})
        super().__init__(validate=[validate.Length(min=1, max=LOCATION_NAME_MAX), _printable], **kwargs)


def _printable(value: str) -> None:
    # str.isprintable is False for control characters, line and paragraph separators, lone surrogates,
    # unassigned code points and every space but U+0020.
    if not value.isprintable():
        raise ValidationError(
            "Must be printable text: no control characters, line breaks, lone surrogates or unusual spaces."
        )


def level_field(**kwargs) -> CaseInsensitiveEnum:
    """A preference level as input: CRITICAL or STANDARD in any case, or the original service's `both`."""
    description = (
        "CRITICAL: critical alerts only; STANDARD: every alert. Any letter case; the original "
        "service's `both` is read as STANDARD."
    )
    return CaseInsensitiveEnum(Level, by_value=True, metadata={"description": description}, **kwargs)


class EpochSeconds(fields.Float):
    """A point in time given and returned as seconds since the Unix epoch."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        return None if value is None else value.timestamp()


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


class DeliverySchema(Schema):
    """One delivery of an alert as shown to clients."""

    id = fields.String()
    user_uuid = fields.String()
    channel = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    queued_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)


class DeliveryAttemptSchema(Schema):
    """One try of a delivery, from the ledger."""

    number = fields.Integer()
    started_at = fields.DateTime()
    finished_at = fields.DateTime()
    outcome = fields.String(attribute="outcome.value")
    http_status = fields.Integer(allow_none=True)
    error_class = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    latency_ms = fields.Float()
    retry_after = fields.Float(allow_none=True)


class DeliverySummarySchema(DeliverySchema):
    """A delivery with its alert and its schedule."""

    alert_uuid = fields.String(attribute="alert.alert_uuid")
    location = fields.String(attribute="alert.location.name")
    deadline_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)


class DeliveryDetailSchema(DeliverySummarySchema):
    """A delivery with its alert, its schedule and every attempt."""

    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema), data_key="attempt_log")


class DeliveryQuerySchema(Schema):
    """Filters and page of the delivery list."""

    status = CaseInsensitiveEnum(DeliveryStatus, by_value=True)
    location = LocationName()
    channel = fields.String(validate=validate.Length(min=1, max=32))
    alert_uuid = fields.UUID()
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))

    @post_load
    def _normalise(self, data: dict, **kwargs) -> dict:
        if "alert_uuid" in data:
            data["alert_uuid"] = str(data["alert_uuid"])
        return data


class DeliveryPageSchema(Schema):
    """A page of deliveries."""

    items = fields.List(fields.Nested(DeliverySummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class ReplaySchema(Schema):
    """What a replay sent again."""

    alert_uuid = fields.String()
    replayed = fields.Integer()
    deliveries = fields.List(fields.Nested(DeliverySchema))


class AlertSchema(Schema):
    """A stored alert."""

    alert_uuid = fields.String()
    url = fields.String()
    location = fields.String(attribute="location.name")
    label = fields.String()
    severity = fields.Enum(Severity, by_value=True)
    time_spotted = EpochSeconds()
    received_at = fields.DateTime()


class AlertCreatedSchema(AlertSchema):
    """The webhook's answer: the stored alert and how many deliveries it produced."""

    delivery_count = fields.Function(lambda alert: len(alert.deliveries))


class AlertDetailSchema(AlertSchema):
    """A stored alert with every delivery it produced."""

    deliveries = fields.List(fields.Nested(DeliverySchema))


class ChannelLevelSchema(Schema):
    """A per-channel preference: its level and whether it is on."""

    channel = fields.String(required=True, validate=validate.Length(min=1, max=32))
    level = level_field()
    enabled = fields.Boolean()


class LevelInSchema(Schema):
    """A preference body for `/preferences/<user_id>`: the level, and optionally per-channel levels."""

    level = level_field(required=True)
    channels = fields.List(fields.Nested(ChannelLevelSchema))


class PreferenceInSchema(LevelInSchema):
    """The original service's preference body `{"user_id": ..., "level": ...}`, optionally with `channels`."""

    user_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class ChannelPreferenceSchema(Schema):
    """The effective level of one channel (push is there even when only implied by the push address)."""

    channel = fields.String()
    level = fields.Enum(Level, by_value=True)
    enabled = fields.Boolean()


class PreferenceSchema(Schema):
    """A user's stored preference, with the effective level of each channel."""

    user_id = fields.String()
    level = fields.Enum(Level, by_value=True)
    channels = fields.List(fields.Nested(ChannelPreferenceSchema))


class ContactPointInSchema(Schema):
    """A contact point to store for a user on the channel named in the path."""

    address = fields.String(allow_none=True, validate=validate.Length(max=2048))
    options = fields.Dict(keys=fields.String(), load_default=dict)
    enabled = fields.Boolean(load_default=True)
    level = level_field(allow_none=True, load_default=None)


class ContactPointSchema(Schema):
    """A stored contact point; `level` null means the user's level applies."""

    channel = fields.String()
    address = fields.String(allow_none=True)
    options = fields.Dict()
    enabled = fields.Boolean()
    level = fields.Enum(Level, by_value=True, allow_none=True)


class RouteSchema(Schema):
    """A routing rule: the channels a label goes out on, for one location or (location null) for all."""

    id = fields.Integer(dump_only=True)
    location = LocationName(attribute="location.name", allow_none=True, load_default=None)
    label = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channels = fields.List(fields.String(validate=validate.Length(min=1, max=32)), required=True)

    @post_load
    def _flatten(self, data: dict, **kwargs) -> dict:
        data["location"] = (data.get("location") or {}).get("name")
        data["label"] = data["label"].strip().lower()
        return data


class RouteUpdateSchema(Schema):
    """The channels of a rule; its location and label are its identity."""

    channels = fields.List(fields.String(validate=validate.Length(min=1, max=32)), required=True)


class TemplateSchema(Schema):
    """A message template; label and channel may be "*" to match any."""

    id = fields.Integer(dump_only=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channel = fields.String(required=True, validate=validate.Length(min=1, max=32))
    locale = fields.String(required=True, validate=validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"))
    subject = fields.String(load_default="", validate=validate.Length(max=1000))
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    updated_at = fields.DateTime(dump_only=True)


class TemplateUpdateSchema(Schema):
    """The text of a template."""

    subject = fields.String(validate=validate.Length(max=1000))
    body = fields.String(validate=validate.Length(min=1, max=10_000))


class TemplatePreviewInSchema(Schema):
    """What to render a template with: a stored alert, or sample values."""

    alert_uuid = fields.UUID(load_default=None)


class RenderedSchema(Schema):
    """A rendered subject and body."""

    subject = fields.String()
    body = fields.String()


def _valid_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError("Unknown IANA timezone.") from error


class LocationSchema(Schema):
    """A shop, for the admin API."""

    name = LocationName(required=True)
    display_name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(load_default="UTC", validate=_valid_timezone)

    @validates("name")
    def _no_edge_spaces(self, value: str, data_key: str) -> None:
        # An alert naming " Carrefour" would otherwise reach a shop that looks like "Carrefour".
        if value != value.strip():
            raise ValidationError("Must not begin or end with a space.")


class LocationUpdateSchema(Schema):
    """The fields of a shop that can change; its name is its identity."""

    display_name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=_valid_timezone)


class UserSchema(Schema):
    """A member of staff, for the admin API."""

    user_uuid = fields.UUID()
    name = fields.String(validate=validate.Length(max=200))
    level = level_field()
    push_address = fields.String(allow_none=True, validate=validate.Length(max=512))
    locale = fields.String(validate=validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"))
    contact_points = fields.List(fields.Nested(ContactPointSchema), dump_only=True)
    locations = fields.List(
        LocationName(),
        attribute="location_names",
        data_key="locations",
    )

    @post_load
    def _normalise(self, data: dict, **kwargs) -> dict:
        if "user_uuid" in data:
            data["user_uuid"] = str(data["user_uuid"])
        return data


class UserUpdateSchema(UserSchema):
    """The fields of a user that can change; the uuid is its identity."""

    class Meta:
        exclude = ("user_uuid",)


class UserQuerySchema(Schema):
    """Filters for the user list."""

    location = LocationName()


class LivenessSchema(Schema):
    """The process answers."""

    status = fields.String()


class ComponentSchema(Schema):
    """The readiness of one component: its status, what failed, or a detail when it is ok."""

    status = fields.String()
    error = fields.String()
    detail = fields.String()


class ReadinessSchema(Schema):
    """Whether the service can deliver, and the status of each component it needs for that."""

    status = fields.String()
    components = fields.Dict(keys=fields.String(), values=fields.Nested(ComponentSchema))


class StatsQuerySchema(Schema):
    """The window of `GET /stats`, in seconds back from now (at most 7 days), and optionally one shop."""

    window = fields.Integer(load_default=3600, validate=validate.Range(min=1, max=7 * 24 * 3600))
    location = LocationName()


class StatusCountsSchema(Schema):
    """Deliveries counted by status."""

    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class DeliveryCountsSchema(StatusCountsSchema):
    """Deliveries counted by status, and by status within each channel."""

    by_channel = fields.Dict(keys=fields.String(), values=fields.Nested(StatusCountsSchema))


class AlertCountsSchema(Schema):
    """Alerts counted by label and by severity."""

    total = fields.Integer()
    by_label = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_severity = fields.Dict(keys=fields.String(), values=fields.Integer())


class LocationStatsSchema(Schema):
    """One shop's alerts and deliveries."""

    alerts = fields.Nested(AlertCountsSchema)
    deliveries = fields.Nested(DeliveryCountsSchema)


class PercentilesSchema(Schema):
    """How many sent deliveries, and the 50th, 95th and 99th percentile latencies in seconds."""

    count = fields.Integer()
    p50 = fields.Float(allow_none=True)
    p95 = fields.Float(allow_none=True)
    p99 = fields.Float(allow_none=True)


class LatencySchema(Schema):
    """Latency from the alert's receipt to sent, and from its time_spotted to sent."""

    from_receipt = fields.Nested(PercentilesSchema)
    from_spotted = fields.Nested(PercentilesSchema)


class LatencyStatsSchema(LatencySchema):
    """Latency over every sent delivery, and per channel."""

    by_channel = fields.Dict(keys=fields.String(), values=fields.Nested(LatencySchema))


class StatsSchema(Schema):
    """Alerts received in the window and their deliveries: counts, per shop, and latency percentiles."""

    window = fields.Integer()
    since = fields.DateTime()
    until = fields.DateTime()
    location = fields.String(allow_none=True)
    alerts = fields.Nested(AlertCountsSchema)
    deliveries = fields.Nested(DeliveryCountsSchema)
    locations = fields.Dict(keys=fields.String(), values=fields.Nested(LocationStatsSchema))
    latency = fields.Nested(LatencyStatsSchema)


class TicketSchema(Schema):
    """A short-lived ticket for the ops page's event stream, and how many seconds it stays valid."""

    ticket = fields.String()
    expires_in = fields.Integer()


class OpsDeliverySchema(Schema):
    """A delivery on the ops page."""

    id = fields.String()
    channel = fields.String()
    user = fields.String()
    status = fields.Enum(DeliveryStatus, by_value=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


class OpsAlertSchema(Schema):
    """An alert and its deliveries on the ops page."""

    alert_uuid = fields.String()
    location = fields.String()
    label = fields.String()
    severity = fields.Enum(Severity, by_value=True)
    url = fields.String()
    time_spotted = fields.DateTime()
    received_at = fields.DateTime()
    deliveries = fields.List(fields.Nested(OpsDeliverySchema))
