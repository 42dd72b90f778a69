"""The stored things: shops, their staff, the alerts they receive and each delivery of an alert."""

import enum
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from nootification.extensions import db
from nootification.i18n import mark


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new random identifier, as text."""
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware, on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """Refuse naive datetimes and store aware ones converted to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """Attach UTC to values a backend returns without a timezone."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Level(enum.StrEnum):
    """A user's preference: CRITICAL alerts only, or every (STANDARD) alert."""

    CRITICAL = "CRITICAL"
    STANDARD = "STANDARD"

    @classmethod
    def parse(cls, text: str) -> "Level":
        """The level a text names, in any case; the original service's `both` (every alert) is STANDARD."""
        return cls(canonical_level_name(text))


def canonical_level_name(text: str) -> str:
    """A level's name in upper case, with the original service's `both` read as STANDARD."""
    name = text.upper()
    return Level.STANDARD.value if name == "BOTH" else name


class Severity(enum.StrEnum):
    """How urgent an alert is, derived from its label."""

    CRITICAL = "critical"
    STANDARD = "standard"


class Outcome(enum.StrEnum):
    """What staff found when they went to the aisle."""

    THEFT_STOPPED = "theft_stopped"
    THEFT_NOT_STOPPED = "theft_not_stopped"
    FALSE_ALARM = "false_alarm"
    NOT_FOUND = "not_found"


class OutcomeEventStatus(enum.StrEnum):
    """Where the camera vendor's copy of an outcome stands, as `GET /alerts/<uuid>` has always said it:
    pending (waiting for a try), sending, sent, or failed for good."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryKind(enum.StrEnum):
    """What an outbound record carries: an alert to staff, an outcome to the camera vendor, a notice to the
    others once someone is on an alert (an edit of their message or a follow-up), a notice of a new device."""

    ALERT = "alert"
    VENDOR_EVENT = "vendor_event"
    CLAIM_NOTICE = "claim_notice"
    DEVICE_NOTICE = "device_notice"
    SMS_ANSWER = "sms_answer"
    SUMMARY = "summary"


# How long a notice of a new device is still worth sending: a day, so that a provider outage of a few hours
# does not silence it, while a notice days late would confuse more than it warns.
DEVICE_NOTICE_FRESHNESS = timedelta(days=1)


def severity_for(label: str, critical_labels: tuple[str, ...]) -> Severity:
    """The severity of an alert label: critical when configured so, standard otherwise."""
    return Severity.CRITICAL if label in critical_labels else Severity.STANDARD


def freshness(severity: Severity, config: Mapping) -> timedelta:
    """How long after receipt an alert of this severity is still worth delivering."""
    seconds = config["FRESHNESS_CRITICAL"] if severity is Severity.CRITICAL else config["FRESHNESS_STANDARD"]
    return timedelta(seconds=seconds)


def deadline_for(received_at: datetime, severity: Severity, config: Mapping) -> datetime:
    """The moment after which a delivery of this alert expires instead of being sent."""
    return received_at + freshness(severity, config)


def stale_on_arrival(
    time_spotted: datetime, received_at: datetime, severity: Severity, config: Mapping
) -> bool:
    """Whether an alert was past its freshness when it arrived, counted from when it was spotted (a vendor's
    backfill of old alerts)."""
    return time_spotted + freshness(severity, config) <= received_at


def fresh_deadline(
    kind: "DeliveryKind", severity: Severity | None, now: datetime, config: Mapping
) -> datetime | None:
    """The deadline of an outbound record given a fresh chance at `now` (sent again by hand): an alert's
    delivery or a claim notice gets its alert's freshness, a device notice a day, a vendor event none."""
    if kind is DeliveryKind.VENDOR_EVENT:
        return None
    if kind is DeliveryKind.DEVICE_NOTICE or severity is None:
        return now + DEVICE_NOTICE_FRESHNESS
    return now + freshness(severity, config)


class DeliveryStatus(enum.StrEnum):
    """Where one delivery stands.

    pending -> queued -> sending -> sent | failed | expired; a transient failure or an open
    circuit makes it `scheduled` for a later attempt, which queues it again when due. A later step of a
    shop's ladder waits `scheduled` too, and is `cancelled` unsent when someone acted on the alert first.
    """

    PENDING = "pending"
    QUEUED = "queued"
    SENDING = "sending"
    SCHEDULED = "scheduled"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.EXPIRED, DeliveryStatus.CANCELLED}
)
DEAD_LETTER_STATUSES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.EXPIRED})


class AttemptOutcomeKind(enum.StrEnum):
    """How one attempt ended; `in_flight` until it does, `unknown` when its worker died during it."""

    IN_FLIGHT = "in_flight"
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


def _enum_column(enum_class: type[enum.StrEnum], length: int = 16) -> sa.Enum:
    return sa.Enum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


user_locations = sa.Table(
    "user_locations",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # Indexed on its own too: each alert reads its shop's staff (the key leads with the user).
    sa.Column("location_id", sa.ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Location(db.Model):
    """A shop, named the way the video-analytics system names it in alerts."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(255))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # A critical alert nobody claims within this many seconds goes to the next tier (0: never).
    escalate_after: Mapped[float] = mapped_column(default=60.0, server_default="60")
    # Once someone is on an alert, the others whose message cannot be edited get a follow-up (else nothing).
    claim_follow_up: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The fallback ladder of its critical alerts: [{"after_seconds": 0, "channels": [...]}, ...] (none: the
    # routing rules, all channels at once). See delivery/ladder.py.
    ladder: Mapped[list[dict] | None] = mapped_column(sa.JSON)
    # The language its staff read and hear (BCP 47, `fr-FR`), unless one of them chose their own.
    locale: Mapped[str] = mapped_column(sa.String(35), default="en", server_default="en")
    # Alerts of one label within this many seconds of the first form a group: the first rings, the others are
    # summed up at the window's end (0: no grouping, nor a cap per person). None: the service's default.
    group_window_seconds: Mapped[int | None] = mapped_column()
    # When it is open, in its timezone: {"mon": [["08:30", "20:00"]], ...} (None: always open), and the
    # dates it is closed on ("YYYY-MM-DD"). See services/opening_hours.py.
    opening_hours: Mapped[dict | None] = mapped_column(sa.JSON)
    closures: Mapped[list[str]] = mapped_column(sa.JSON, default=list, server_default="[]")
    # When its roster was last replaced; None: no roster, so an alert tells everyone attached. With a roster,
    # even an empty one, only the people on shift (see Shift).
    roster_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    users: Mapped[list["User"]] = relationship(secondary=user_locations, back_populates="locations")
    escalation_tiers: Mapped[list["EscalationTier"]] = relationship(
        order_by="(EscalationTier.tier, EscalationTier.position)", cascade="all, delete-orphan"
    )

    off_hours_members: Mapped[list["OffHoursMember"]] = relationship(
        order_by="OffHoursMember.position", cascade="all, delete-orphan"
    )

    @property
    def off_hours_tier(self) -> list[str]:
        """The user UUIDs of the people told of its critical alerts while it is closed."""
        return [member.user.user_uuid for member in self.off_hours_members]

    @property
    def escalation(self) -> list[list[str]]:
        """The user UUIDs of each tier after the shop's own staff: tier 2 first."""
        tiers: dict[int, list[str]] = {}
        for member in self.escalation_tiers:
            tiers.setdefault(member.tier, []).append(member.user.user_uuid)
        return [tiers[tier] for tier in sorted(tiers)]


# Translated where it is shown (the message catalog).
UNNAMED_STAFF = mark("A colleague")


class User(db.Model):
    """A member of staff, attached to one or more shops, with an alerting preference."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    level: Mapped[Level] = mapped_column(_enum_column(Level), default=Level.CRITICAL)
    push_address: Mapped[str | None] = mapped_column(sa.String(512))
    # Their own language (BCP 47); None: the language of the shop whose alert they are told of.
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    # Set when the person's data was erased: the row stays, under a pseudonym, so counts and history hold.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    locations: Mapped[list[Location]] = relationship(
        secondary=user_locations, back_populates="users", order_by=Location.name
    )
    contact_points: Mapped[list["ContactPoint"]] = relationship(
        back_populates="user", order_by="ContactPoint.channel", cascade="all, delete-orphan"
    )

    @property
    def shown_name(self) -> str:
        """How a member of staff is named to colleagues."""
        return self.name or UNNAMED_STAFF

    @property
    def location_names(self) -> list[str]:
        """The names of the shops this user covers."""
        return [location.name for location in self.locations]


class ContactPoint(db.Model):
    """Where and how a user wants to hear on one channel; a channel's level overrides the user's.

    One point per channel, except on the device channels (FCM, Web Push): one per device, told apart by its
    address (the registration token or the subscription's endpoint).
    """

    __tablename__ = "contact_points"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "channel", "address", name="uq_contact_points_user_channel_address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(32))
    address: Mapped[str | None] = mapped_column(sa.String(2048))
    options: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    level: Mapped[Level | None] = mapped_column(_enum_column(Level))
    # Set when a push service said the subscription or device token is gone, which also turned it off.
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="contact_points")


class Shift(db.Model):
    """One person on the floor of one shop from `starts_at` (included) to `ends_at` (excluded), in UTC.

    A shop's roster is its shifts, replaced whole at each import; a person's overlapping shifts are stored
    merged, so one row at most covers any moment.
    """

    __tablename__ = "shifts"
    __table_args__ = (
        # Who is on shift at a shop at a time: the shop's shifts not over yet, then those already begun.
        sa.Index("ix_shifts_location_id_ends_at_starts_at", "location_id", "ends_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("locations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class RouteRule(db.Model):
    """Which channels an alert label goes out on, for one shop or (location unset) for every shop."""

    __tablename__ = "route_rules"
    __table_args__ = (sa.UniqueConstraint("location_id", "label", name="uq_route_rules_location_label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int | None] = mapped_column(sa.ForeignKey("locations.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(sa.String(64))
    channels: Mapped[list[str]] = mapped_column(sa.JSON)

    location: Mapped[Location | None] = relationship()


class Template(db.Model):
    """A Jinja2 subject and body for a label, channel and locale ("*" matches any label or channel)."""

    __tablename__ = "templates"
    __table_args__ = (
        sa.UniqueConstraint("label", "channel", "locale", name="uq_templates_label_channel_locale"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(32))
    locale: Mapped[str] = mapped_column(sa.String(16))
    subject: Mapped[str] = mapped_column(sa.Text, default="")
    body: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class EscalationTier(db.Model):
    """A person a shop's critical alerts reach when nobody claimed them in time: tier 2, 3, ..."""

    __tablename__ = "escalation_tiers"

    location_id: Mapped[int] = mapped_column(
        sa.ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tier: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)

    user: Mapped[User] = relationship()


class GroupReason(enum.StrEnum):
    """Why alerts were gathered: a burst of one label at an open shop, or a shop closed."""

    BURST = "burst"
    CLOSED = "closed"


class AlertGroup(db.Model):
    """Alerts told as one: a burst's first alert rings and the others are summed up when `closes_at` comes;
    a closed shop's standard alerts are all summed up at its opening (`closes_at`)."""

    __tablename__ = "alert_groups"
    __table_args__ = (sa.Index("ix_alert_groups_open", "location_id", "reason", "label", "closes_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("locations.id", ondelete="RESTRICT"))
    reason: Mapped[GroupReason] = mapped_column(_enum_column(GroupReason))
    # A burst's label; None for a closed shop's group, which gathers every standard label.
    label: Mapped[str | None] = mapped_column(sa.String(64))
    # The alert that opened the group (not a foreign key: alerts refer to their group).
    first_alert_id: Mapped[int | None] = mapped_column()
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())

    first_alert: Mapped["Alert | None"] = relationship(
        primaryjoin="foreign(AlertGroup.first_alert_id) == Alert.id", viewonly=True
    )
    # `size`, how many alerts the group holds, is defined after Alert below.


class SilenceState(enum.StrEnum):
    """Where a silence stands at a moment: not begun, holding alerts, run out, or ended early by hand."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"
    ENDED = "ended"


class Silence(db.Model):
    """A span during which a shop's alerts of some labels (none named: every label) reach nobody; critical
    ones only when it says `include_critical`. Ended early, it is kept with `ended_at`, never deleted."""

    __tablename__ = "silences"
    # The alert path asks for a shop's silences that have not run out: few rows past `ends_at`.
    __table_args__ = (sa.Index("ix_silences_location_id_ends_at", "location_id", "ends_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("locations.id", ondelete="CASCADE"))
    labels: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    comment: Mapped[str] = mapped_column(sa.String(500))
    include_critical: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Who made it, named as the audit log names an actor (the token's name, or the CLI command).
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    location: Mapped[Location] = relationship()

    def state_at(self, moment: datetime) -> SilenceState:
        """Where the silence stands at `moment`."""
        if self.ended_at is not None and self.ended_at <= moment:
            return SilenceState.ENDED
        if moment < self.starts_at:
            return SilenceState.PENDING
        return SilenceState.ACTIVE if moment < self.ends_at else SilenceState.EXPIRED

    @property
    def state(self) -> SilenceState:
        """Where the silence stands now."""
        return self.state_at(utcnow())

    def covers(self, label: str, severity: Severity) -> bool:
        """Whether an alert of this label and severity is one the silence holds (its time aside)."""
        if severity is Severity.CRITICAL and not self.include_critical:
            return False
        return not self.labels or label in self.labels


class OffHoursMember(db.Model):
    """A person a shop's critical alerts reach while it is closed (its off-hours tier), not its staff."""

    __tablename__ = "off_hours_members"

    location_id: Mapped[int] = mapped_column(
        sa.ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)

    user: Mapped[User] = relationship()


class Alert(db.Model):
    """An alert as received from the video-analytics system."""

    __tablename__ = "alerts"
    __table_args__ = (
        # The daily purge finds what it has not yet removed among the old alerts without reading the rest.
        sa.Index("ix_alerts_clip_removed_at_received_at", "clip_removed_at", "received_at"),
        sa.Index("ix_alerts_messages_removed_at_received_at", "messages_removed_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    # The clip; removed (null) once the alert is older than RETENTION_CLIP_DAYS, at `clip_removed_at`.
    url: Mapped[str | None] = mapped_column(sa.String(2048))
    clip_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the texts and addresses its deliveries' ledger quoted were removed (RETENTION_MESSAGE_DAYS).
    messages_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    label: Mapped[str] = mapped_column(sa.String(64))
    severity: Mapped[Severity] = mapped_column(_enum_column(Severity))
    time_spotted: Mapped[datetime] = mapped_column(UTCDateTime())
    # Indexed: the ops page lists the newest alerts and every metrics scrape counts the last 7 days.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # "I'm on it": the first claim wins (a compare-and-set on claimed_by_id).
    claimed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What really happened, recorded by staff of the shop; the latest record stands.
    outcome: Mapped[Outcome | None] = mapped_column(_enum_column(Outcome, length=20))
    outcome_value_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    outcome_note: Mapped[str | None] = mapped_column(sa.String(500))
    outcome_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Escalation: the last step taken (0: only the shop's staff told) and when the next one is due.
    escalation_step: Mapped[int] = mapped_column(default=0, server_default="0")
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # The highest step of the shop's ladder that went out to someone, and when (0: the first step only).
    ladder_step: Mapped[int] = mapped_column(default=0, server_default="0")
    ladder_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The group the alert belongs to (see AlertGroup); None when its shop does not group alerts.
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert_groups.id"), index=True)
    # The silence it fell in: stored and counted, sent to nobody.
    silence_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("silences.id", ondelete="SET NULL"), index=True
    )

    location: Mapped[Location] = relationship()
    group: Mapped["AlertGroup | None"] = relationship()
    claimed_by: Mapped["User | None"] = relationship(foreign_keys=[claimed_by_id])
    outcome_by: Mapped["User | None"] = relationship(foreign_keys=[outcome_by_id])
    # The alert's deliveries to staff; its other outbound records (vendor events, notices) are `outbound`.
    deliveries: Mapped[list["Delivery"]] = relationship(
        primaryjoin="and_(Delivery.alert_id == Alert.id, Delivery.kind == 'alert')",
        order_by="Delivery.created_at",
        viewonly=True,
    )
    escalations: Mapped[list["AlertEscalation"]] = relationship(order_by="AlertEscalation.step")
    outcome_events: Mapped[list["Delivery"]] = relationship(
        primaryjoin="and_(Delivery.alert_id == Alert.id, Delivery.kind == 'vendor_event')",
        order_by="Delivery.created_at",
        viewonly=True,
    )
    outbound: Mapped[list["Delivery"]] = relationship(
        primaryjoin="and_(Delivery.alert_id == Alert.id, Delivery.kind != 'alert')",
        order_by="Delivery.created_at",
        viewonly=True,
    )
    outcome_history: Mapped[list["OutcomeRecord"]] = relationship(
        back_populates="alert", order_by="OutcomeRecord.id"
    )
    # Not stored: how many deliveries the alert produced, set by ingest for the webhook's answer.
    delivery_count = None


# How many alerts a group holds, its first included: a count the database makes, read only where asked for
# (`undefer`), rather than loading a burst's hundreds of alerts to count them.
AlertGroup.size = column_property(
    sa.select(sa.func.count(Alert.id))
    .where(Alert.group_id == AlertGroup.id)
    .correlate_except(Alert)
    .scalar_subquery(),
    deferred=True,
)


class AlertEscalation(db.Model):
    """One escalation step of an alert: when, which tier, why, and how many deliveries it made."""

    __tablename__ = "alert_escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    step: Mapped[int]
    tier: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(sa.String(200))
    deliveries: Mapped[int]


class Delivery(db.Model):
    """One outbound record and how far it got: of its `kind`, an alert to one user on one channel (on a
    device channel, to one device), an outcome to the camera vendor (no user), a notice to a user (a device
    notice has no alert)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint(
            "alert_id",
            "user_id",
            "channel",
            "contact_point_id",
            "kind",
            name="uq_deliveries_alert_user_point_kind",
        ),
        # A status's records newest first (the dead-letter list), and a day's dead letters (each metrics
        # scrape), without reading every record of that status in a year's history.
        sa.Index("ix_deliveries_status_created_at", "status", "created_at"),
    )

    # A random id rather than a sequence: it is the provider's idempotency key, which must stay
    # unique even across databases that are rebuilt while the provider remembers old keys.
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    kind: Mapped[DeliveryKind] = mapped_column(
        _enum_column(DeliveryKind), default=DeliveryKind.ALERT, server_default=DeliveryKind.ALERT.value
    )
    alert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alerts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    # On a device channel, the device's contact point (a user may have several phones); 0 on the others, where
    # a user has one point per channel. Not a foreign key: the delivery's record outlives a removed device.
    contact_point_id: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum_column(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # After this the message is no use to anyone: it expires instead of being sent.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A worker that claimed the delivery must finish before this, or the sweeper hands it to another.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retry_round: Mapped[int] = mapped_column(default=0, server_default="0")
    # Each enqueue gets a new job id, so a re-queued delivery never collides with its old job.
    enqueue_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # 0 for the shop's own staff; n for the deliveries of the alert's n-th escalation step.
    escalation_step: Mapped[int] = mapped_column(default=0, server_default="0")
    # The step of the shop's ladder this delivery is (0: the first, sent at once).
    ladder_step: Mapped[int] = mapped_column(default=0, server_default="0")
    # Reported by the phone (service worker or app), never inferred: the message arrived; it was opened. An
    # SMS's arrival is the provider's word instead (its `delivered` status callback).
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    alert: Mapped[Alert | None] = relationship()
    user: Mapped[User | None] = relationship()
    attempt_log: Mapped[list["DeliveryAttempt"]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.number", cascade="all, delete-orphan"
    )

    @property
    def user_uuid(self) -> str | None:
        """The recipient's public identifier; None for a record to no user (a vendor event)."""
        return self.user.user_uuid if self.user else None

    @property
    def provider_receipt(self) -> "DeliveryAttempt | None":
        """The attempt whose message the provider reported final (an SMS's delivered, undelivered, failed);
        None for the channels whose provider reports nothing, so their attempts are never loaded for it."""
        if self.channel not in PROVIDER_RECEIPT_CHANNELS:
            return None
        reported = [attempt for attempt in self.attempt_log if attempt.provider_status]
        return reported[-1] if reported else None

    @property
    def provider_status(self) -> str | None:
        """What the provider last reported of the message (Twilio's SMS status), if anything."""
        receipt = self.provider_receipt
        return receipt.provider_status if receipt else None

    @property
    def provider_error_code(self) -> str | None:
        """The provider's error code with an undelivered or failed status."""
        receipt = self.provider_receipt
        return receipt.provider_error_code if receipt else None

    @property
    def event_status(self) -> OutcomeEventStatus:
        """A vendor event's status in the four words its API has always used."""
        if self.status in (DeliveryStatus.SENT, DeliveryStatus.SENDING):
            return OutcomeEventStatus(self.status.value)
        if self.status in DEAD_LETTER_STATUSES:
            return OutcomeEventStatus.FAILED
        return OutcomeEventStatus.PENDING


class OutcomeRecord(db.Model):
    """One outcome as it was recorded, by whom and when: a correction adds a record, the earlier ones stay."""

    __tablename__ = "outcome_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    # The member of staff who recorded it; none for an admin token that is nobody's.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # The bearer token it came with; none through a staff link.
    token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="SET NULL"))
    outcome: Mapped[Outcome] = mapped_column(_enum_column(Outcome, length=20))
    value_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    alert: Mapped[Alert] = relationship(back_populates="outcome_history")
    user: Mapped["User | None"] = relationship()

    @property
    def user_uuid(self) -> str | None:
        """The recording member of staff's public identifier, if any."""
        return self.user.user_uuid if self.user else None

    @property
    def value_recovered(self) -> float | None:
        """The value recovered, in the shop's currency."""
        return None if self.value_cents is None else self.value_cents / 100


# The channels whose provider reports what became of a message it accepted (Twilio's SMS and call status
# callbacks).
PROVIDER_RECEIPT_CHANNELS = frozenset({"sms", "voice"})


class DeliveryAttempt(db.Model):
    """The ledger: one row per try of a delivery, whatever its outcome."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Empty while the attempt is in flight, and for good when its worker died before it ended.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[AttemptOutcomeKind] = mapped_column(_enum_column(AttemptOutcomeKind))
    http_status: Mapped[int | None]
    error_class: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.String(500))
    latency_ms: Mapped[float | None]
    retry_after: Mapped[float | None]
    # The provider's id of the message sent (Slack "<channel>:<ts>", Telegram "<chat>:<message id>"), so the
    # message can be edited later ("Camille is on it").
    provider_ref: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    # The provider's own receipt of the message, where it reports one (Twilio's SMS or call status callback):
    # an SMS delivered, undelivered or failed, a call completed, busy, no-answer, failed or canceled; its
    # error code, and when it came. Kept once, the first final one.
    provider_status: Mapped[str | None] = mapped_column(sa.String(16))
    provider_error_code: Mapped[str | None] = mapped_column(sa.String(16))
    provider_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")


class SmsReply(db.Model):
    """An SMS a member of staff sent in answer to an alert SMS, kept once by Twilio's `MessageSid`: what it
    did, and the answer sent back (an `sms_answer` outbound record). A stranger's is not kept."""

    __tablename__ = "sms_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Twilio's SID of the incoming message: the same message posted twice acts once.
    message_sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    from_number: Mapped[str] = mapped_column(sa.String(32))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alerts.id", ondelete="SET NULL"))
    # What the reply did, and so what the answer says: claimed, yours, taken, outcome, no_alert, help, or
    # quiet (a help already sent to the number within SMS_HELP_INTERVAL: no answer).
    result: Mapped[str] = mapped_column(sa.String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The answer's outbound record; none when nothing is answered.
    answer_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)

    alert: Mapped[Alert | None] = relationship()
    user: Mapped[User | None] = relationship()

    __table_args__ = (sa.Index("ix_sms_replies_from_number_received_at", "from_number", "received_at"),)


class VoicePause(db.Model):
    """A phone number's run of failed calls, and the pause it earned: no call placed to it until
    `paused_until` (see staff/voice.py)."""

    __tablename__ = "voice_pauses"

    number: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    # Calls in a row whose final status was `failed`; any other final status starts the count again.
    failed_in_row: Mapped[int] = mapped_column(default=0, server_default="0")
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(db.Model):
    """A bearer token, stored as a hash, with its scopes and (for `preferences:self`) its user."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(sa.JSON)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship()


class AuditEntry(db.Model):
    """One administrative change: who made it, from where, what it was, and the target before and after.

    Targets are named by value, never by a foreign key: deleting a user or a shop leaves its history alone.
    Personal fields are masked before they are stored, so forgetting a person never edits this table; the
    database refuses every UPDATE and DELETE on it (see AUDIT_LOG_TRIGGERS).
    """

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_token_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(sa.String(200))
    actor_address: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str] = mapped_column(sa.String(255))
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    changed: Mapped[list[str]] = mapped_column(sa.JSON, default=list)


APPEND_ONLY = "the audit log is append-only"
# The same statements as migration 0014 runs, for a schema made by create_all (the tests, `db.create_all`).
AUDIT_LOG_TRIGGERS = {
    "sqlite": (
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$",
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()",
    ),
}


@sa.event.listens_for(AuditEntry.__table__, "after_create")
def _refuse_changes_to_the_audit_log(table: sa.Table, connection: sa.Connection, **_kw) -> None:
    for statement in AUDIT_LOG_TRIGGERS.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)


@sa.event.listens_for(AuditEntry.__table__, "after_drop")
def _drop_the_refusal(table: sa.Table, connection: sa.Connection, **_kw) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
