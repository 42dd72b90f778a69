"""Schemas of `GET /stats`: its window, and the counts and latency percentiles over it."""

from marshmallow import Schema, fields, validate

from nootification.api.fields import LocationName


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
    groups = fields.Integer(
        metadata={"description": "The groups these alerts formed (bursts, and closed shops' held alerts)."}
    )
    quiet = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Of these alerts, those that rang nobody when they came, by why: grouped (a "
            "burst's later alert, summed up at its window's end), closed (summed up at the shop's opening), "
            "silenced (told to nobody)."
        },
    )


class PercentilesSchema(Schema):
    """How many values, and their 50th, 95th and 99th percentiles in seconds."""

    count = fields.Integer()
    p50 = fields.Float(allow_none=True)
    p95 = fields.Float(allow_none=True)
    p99 = fields.Float(allow_none=True)


class ResponseSchema(Schema):
    """How staff answered the alerts: claims, time to claim, unclaimed critical alerts, outcomes."""

    alerts = fields.Integer()
    claimed = fields.Integer()
    unclaimed_critical = fields.Integer(metadata={"description": "Critical alerts nobody has claimed."})
    time_to_claim = fields.Nested(PercentilesSchema, metadata={"description": "From receipt to the claim."})
    outcomes = fields.Dict(keys=fields.String(), values=fields.Integer())
    false_alarm_rate = fields.Float(
        allow_none=True, metadata={"description": "False alarms among the alerts with a recorded outcome."}
    )


class LocationStatsSchema(Schema):
    """One shop's alerts and deliveries, and its staff's response by label."""

    alerts = fields.Nested(AlertCountsSchema)
    deliveries = fields.Nested(DeliveryCountsSchema)
    response_by_label = fields.Dict(keys=fields.String(), values=fields.Nested(ResponseSchema))


class LatencySchema(Schema):
    """Latency from the alert's receipt to sent, and from its time_spotted to sent."""

    from_receipt = fields.Nested(PercentilesSchema)
    from_spotted = fields.Nested(PercentilesSchema)


class LatencyStatsSchema(LatencySchema):
    """Latency over every sent delivery, and per channel."""

    by_channel = fields.Dict(keys=fields.String(), values=fields.Nested(LatencySchema))


class EngagementSchema(Schema):
    """What phones reported of the sent deliveries: arrived (`delivered`) and opened (`seen`)."""

    sent = fields.Integer()
    delivered = fields.Integer()
    seen = fields.Integer()
    delivered_rate = fields.Float(allow_none=True, metadata={"description": "delivered / sent."})
    seen_rate = fields.Float(allow_none=True, metadata={"description": "seen / sent."})
    alert_to_seen = fields.Nested(
        PercentilesSchema, metadata={"description": "From the alert's receipt to its notification opened."}
    )


class EngagementStatsSchema(EngagementSchema):
    """Engagement over every sent delivery, and per channel; only phones report it (Web Push, FCM, an app
    on the push provider), so other channels stay at 0."""

    by_channel = fields.Dict(keys=fields.String(), values=fields.Nested(EngagementSchema))


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
    response = fields.Nested(ResponseSchema)
    response_by_label = fields.Dict(keys=fields.String(), values=fields.Nested(ResponseSchema))
    engagement = fields.Nested(EngagementStatsSchema)
