"""Batch ingest: up to a hundred alerts of one request, each checked against what is stored and against the
batch's earlier items; the good ones stored in one transaction, their deliveries queued in one push."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from nootification.delivery.ingest import delivery_count, same_content
from nootification.delivery.outbox import QueuedJob, enqueue
from nootification.delivery.publish import plan_alert, queued_now, record_plan, write_alert
from nootification.extensions import db
from nootification.models import Alert, Location, Severity, severity_for, stale_on_arrival, utcnow
from nootification.observability import metrics

log = logging.getLogger(__name__)

CONFLICT = "An alert with this alert_uuid was already received with different content."


@dataclass(frozen=True)
class BatchItem:
    """One item of a batch as read: the alert's fields, or the field reasons it is refused for (and its
    alert_uuid as sent, to name it in the answer)."""

    alert: dict | None = None
    errors: dict | None = None
    alert_uuid: str | None = None


@dataclass(frozen=True)
class ItemResult:
    """What became of one item: 201 stored, 200 already stored alike, 409 stored otherwise, 422 refused."""

    index: int
    status: int
    alert_uuid: str | None
    delivery_count: int | None = None
    errors: dict | None = None


@dataclass
class _Batch:
    """What one pass over the batch wrote and is to do once it is committed."""

    results: list[ItemResult] = field(default_factory=list)
    jobs: list[QueuedJob] = field(default_factory=list)
    counts: list[Callable[[], None]] = field(default_factory=list)


def ingest_batch(items: Sequence[BatchItem]) -> list[ItemResult]:
    """Store a batch's new alerts with their deliveries in one transaction and queue them in one push; one
    result per item, in order. A refused item changes nothing; the others are stored all the same."""
    batch = _write_despite_other_requests(items)
    enqueue(batch.jobs)
    for count in batch.counts:
        count()
    stored = sum(result.status == 201 for result in batch.results)
    log.info("batch of %d alerts: %d stored, %d jobs", len(items), stored, len(batch.jobs))
    return batch.results


def _write_despite_other_requests(items: Sequence[BatchItem]) -> _Batch:
    """Write the batch; when other requests stored some of its alert_uuids since they were read, read them
    again and write once more, for as long as each collision finds one more of them stored."""
    uuids = {item.alert["alert_uuid"] for item in items if item.alert is not None}
    known = stored_alerts(uuids)
    while True:
        try:
            return _write(items, dict(known))
        except IntegrityError:
            db.session.rollback()
            stored_now = stored_alerts(uuids)
            if stored_now.keys() == known.keys():
                raise  # not one of the batch's alert_uuids: a fault of its own
            known = stored_now


def _write(items: Sequence[BatchItem], known: dict[str, Alert]) -> _Batch:
    alerts = [item.alert for item in items if item.alert is not None]
    shops = _shops({alert["location"] for alert in alerts})
    batch = _Batch()
    for index, item in enumerate(items):
        batch.results.append(_ingest_item(index, item, shops, known, batch))
    db.session.commit()
    return batch


def _shops(names: set[str]) -> dict[str, Location]:
    return {
        shop.name: shop for shop in db.session.scalars(sa.select(Location).where(Location.name.in_(names)))
    }


def stored_alerts(uuids: set[str]) -> dict[str, Alert]:
    """The stored alerts of these alert_uuids, by alert_uuid."""
    found = db.session.scalars(sa.select(Alert).where(Alert.alert_uuid.in_(uuids)))
    return {alert.alert_uuid: alert for alert in found}


def _ingest_item(
    index: int, item: BatchItem, shops: dict[str, Location], known: dict[str, Alert], batch: _Batch
) -> ItemResult:
    if item.alert is None:
        return ItemResult(index, 422, item.alert_uuid, errors=item.errors)
    fields = item.alert
    uuid, shop = fields["alert_uuid"], shops.get(fields["location"])
    if shop is None:
        return ItemResult(index, 422, uuid, errors={"location": ["Unknown location."]})
    label, time_spotted = fields["label"], fields["time_spotted"]
    severity = severity_for(label, current_app.config["CRITICAL_LABELS"])
    existing = known.get(uuid)
    if existing is not None:
        same = same_content(
            existing, url=fields["url"], location=shop, label=label, time_spotted=time_spotted
        )
        batch.counts.append(
            lambda: metrics.record_alert(label, severity, "duplicate" if same else "conflict")
        )
        if not same:
            return ItemResult(index, 409, uuid, errors={"alert_uuid": [CONFLICT]})
        return ItemResult(index, 200, uuid, delivery_count=_delivery_count(existing))
    alert = _new_alert(fields, shop, severity, utcnow())
    stale = stale_on_arrival(time_spotted, alert.received_at, severity, current_app.config)
    plan = plan_alert(alert, stale=stale)
    rows = write_alert(alert, plan)
    alert.delivery_count = len(rows)
    known[uuid] = alert
    batch.jobs.extend(queued_now(rows))
    batch.counts.append(lambda: metrics.record_alert(label, severity, "created"))
    batch.counts.append(lambda: record_plan(plan))
    return ItemResult(index, 201, uuid, delivery_count=alert.delivery_count)


def _new_alert(fields: dict, shop: Location, severity: Severity, received_at: datetime) -> Alert:
    # location_id too: a later item of the batch with the same alert_uuid compares against it unflushed.
    return Alert(
        alert_uuid=fields["alert_uuid"],
        url=fields["url"],
        location=shop,
        location_id=shop.id,
        label=fields["label"],
        severity=severity,
        time_spotted=fields["time_spotted"],
        received_at=received_at,
    )


def _delivery_count(alert: Alert) -> int:
    # An alert this batch wrote knows its count; a stored one is counted.
    return delivery_count(alert.id) if alert.delivery_count is None else alert.delivery_count
