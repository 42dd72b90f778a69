"""Ingest: an alert checked against what is stored, stored once, and published."""

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from nootification.delivery.publish import publish
from nootification.errors import Conflict, InvalidInput
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind, Location, severity_for, utcnow
from nootification.observability import metrics
from nootification.observability.logs import log_context

log = logging.getLogger(__name__)

# A hot path's statement, built once (see delivery/lease.py): every alert runs it.
LOCATION_BY_NAME = sa.select(Location).where(Location.name == sa.bindparam("name"))


@dataclass(frozen=True)
class IngestResult:
    """What became of a posted alert: the stored alert, and whether it is new."""

    alert: Alert
    created: bool


def same_content(alert: Alert, *, url: str, location: Location, label: str, time_spotted: datetime) -> bool:
    """Whether a stored alert has this content (a repeat rather than a conflict)."""
    return (
        alert.url == url
        and alert.location_id == location.id
        and alert.label == label
        and abs((alert.time_spotted - time_spotted).total_seconds()) < 1e-3
    )


def _replay(existing: Alert, **content) -> IngestResult:
    same = same_content(existing, **content)
    severity = severity_for(content["label"], current_app.config["CRITICAL_LABELS"])
    metrics.record_alert(content["label"], severity, "duplicate" if same else "conflict")
    if not same:
        raise Conflict(
            "An alert with this alert_uuid was already received with different content.", field="alert_uuid"
        )
    existing.delivery_count = delivery_count(existing.id)
    return IngestResult(alert=existing, created=False)


def delivery_count(alert_id: int) -> int:
    """How many deliveries a stored alert produced, every channel."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Delivery)
        .where(Delivery.alert_id == alert_id, Delivery.kind == DeliveryKind.ALERT)
    )


def ingest_alert(
    *, url: str, location: str, alert_uuid: str, label: str, time_spotted: datetime
) -> IngestResult:
    """Store a new alert with its deliveries and queue them; a repeat of a stored alert changes nothing."""
    with log_context(alert_uuid=alert_uuid):
        return _ingest(
            url=url, location=location, alert_uuid=alert_uuid, label=label, time_spotted=time_spotted
        )


def _ingest(*, url: str, location: str, alert_uuid: str, label: str, time_spotted: datetime) -> IngestResult:
    shop = db.session.scalar(LOCATION_BY_NAME, {"name": location})
    if shop is None:
        raise InvalidInput("Unknown location.", field="location")
    content = {"url": url, "location": shop, "label": label, "time_spotted": time_spotted}
    alert = Alert(
        alert_uuid=alert_uuid,
        url=url,
        location=shop,
        label=label,
        severity=severity_for(label, current_app.config["CRITICAL_LABELS"]),
        time_spotted=time_spotted,
        received_at=utcnow(),
    )
    try:
        alert.delivery_count = publish(alert)
    except IntegrityError:
        # The alert_uuid is stored already: a repeat, or another request stored it since our reads.
        db.session.rollback()
        existing = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == alert_uuid))
        if existing is None:
            raise
        return _replay(existing, **content)
    log.info("alert %s (%s) at %s: %d deliveries", alert_uuid, label, location, alert.delivery_count)
    metrics.record_alert(label, alert.severity, "created")
    return IngestResult(alert=alert, created=True)
