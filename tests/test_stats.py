"""`GET /stats` over alerts posted and delivered through the real pipeline, on push and SMS."""

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nootification.extensions import db as _db
from nootification.models import Alert, Delivery, DeliveryStatus, Level, utcnow
from nootification.services.tokens import PREFERENCES_SELF, create_token
from tests.helpers.factories import alert_payload, fail_next, make_location, make_user
from tests.helpers.processes import drain_queue

LAROCHELLE = "fr-auchan-larochelle"
NANTES = "fr-carrefour-nantes"
NO_DELIVERIES = {
    "pending": 0,
    "queued": 0,
    "sending": 0,
    "scheduled": 0,
    "sent": 0,
    "failed": 0,
    "expired": 0,
    "cancelled": 0,
}


def statuses(**counts: int) -> dict[str, int]:
    return {**NO_DELIVERIES, **counts}


@pytest.fixture
def delivered(admin, smtp_server) -> dict[str, dict]:
    """Three alerts in the last hour and one two hours old, delivered; one push refused for good."""
    larochelle, nantes = make_location(LAROCHELLE), make_location(NANTES)
    camille = make_user(larochelle, level=Level.STANDARD, name="Camille")
    make_user(larochelle, level=Level.CRITICAL, name="Hugo")
    make_user(nantes, level=Level.STANDARD, name="Élise")
    put = admin.put(f"/users/{camille.user_uuid}/contact-points/sms", json={"address": "+33612345678"})
    assert put.status_code == 200, put.json

    alerts = {
        "nantes": alert_payload(NANTES, label="theft"),
        "theft": alert_payload(LAROCHELLE, label="theft", time_spotted=time.time() - 30),
        "suspicious": alert_payload(LAROCHELLE, label="suspicious"),
        "old": alert_payload(LAROCHELLE, label="theft"),
    }
    # Élise's push is refused (400): a failed delivery; every other is sent.
    assert admin.post("/webhooks/alerts", json=alerts["nantes"]).json["delivery_count"] == 1
    smtp_server.control(**fail_next(400))
    drain_queue()
    counts = {"theft": 3, "suspicious": 2, "old": 3}  # Camille push + SMS, Hugo push for theft only
    for name, count in counts.items():
        assert admin.post("/webhooks/alerts", json=alerts[name]).json["delivery_count"] == count
    drain_queue()
    _db.session.execute(
        sa.update(Alert)
        .where(Alert.alert_uuid == alerts["old"]["alert_uuid"])
        .values(received_at=utcnow() - timedelta(hours=2))
    )
    _db.session.commit()
    return alerts


def test_counts_alerts_and_deliveries_of_the_window_by_status_channel_and_location(admin, delivered):
    response = admin.get("/stats")
    assert response.status_code == 200
    stats = response.json
    assert stats["window"] == 3600 and stats["location"] is None
    assert stats["alerts"] == {
        "total": 3,
        "by_label": {"theft": 2, "suspicious": 1, "normal": 0},
        "by_severity": {"critical": 2, "standard": 1},
        "groups": 0,
        "quiet": {"grouped": 0, "closed": 0, "silenced": 0},
    }
    assert stats["deliveries"] == {
        "total": 6,
        "by_status": statuses(sent=5, failed=1),
        "by_channel": {
            "push": {"total": 4, "by_status": statuses(sent=3, failed=1)},
            "sms": {"total": 2, "by_status": statuses(sent=2)},
        },
    }
    assert set(stats["locations"]) == {LAROCHELLE, NANTES}
    nantes = stats["locations"][NANTES]
    assert nantes["alerts"]["by_severity"] == {"critical": 1, "standard": 0}
    assert nantes["deliveries"]["by_channel"] == {"push": {"total": 1, "by_status": statuses(failed=1)}}
    larochelle = stats["locations"][LAROCHELLE]
    assert larochelle["alerts"]["by_label"] == {"theft": 1, "suspicious": 1, "normal": 0}
    assert larochelle["deliveries"]["total"] == 5
    assert larochelle["deliveries"]["by_status"] == statuses(sent=5)


def test_latency_percentiles_overall_and_per_channel_cover_sent_deliveries(admin, delivered):
    latency = admin.get("/stats").json["latency"]
    receipt, spotted = latency["from_receipt"], latency["from_spotted"]
    assert receipt["count"] == spotted["count"] == 5
    assert 0 <= receipt["p50"] <= receipt["p95"] <= receipt["p99"] < 60
    # Spotted 5 s before being posted: the suspicious alert's push and SMS; 30 s: the theft's two pushes
    # and SMS. The nearest-rank median of five is the third value.
    assert 30 <= spotted["p50"] <= spotted["p95"] <= spotted["p99"] < 90
    assert set(latency["by_channel"]) == {"push", "sms"}
    assert latency["by_channel"]["push"]["from_receipt"]["count"] == 3
    sms = latency["by_channel"]["sms"]["from_spotted"]
    assert sms["count"] == 2
    assert 5 <= sms["p50"] < 30 <= sms["p95"] == sms["p99"]


def test_a_longer_window_takes_in_older_alerts(admin, delivered):
    stats = admin.get("/stats", query_string={"window": 3 * 3600}).json
    assert stats["window"] == 3 * 3600
    assert stats["alerts"]["total"] == 4
    assert stats["deliveries"]["by_status"] == statuses(sent=8, failed=1)
    assert stats["latency"]["from_receipt"]["count"] == 8


def test_one_location(admin, delivered):
    stats = admin.get("/stats", query_string={"location": NANTES}).json
    assert stats["location"] == NANTES
    assert list(stats["locations"]) == [NANTES]
    assert stats["alerts"]["total"] == 1
    assert stats["deliveries"]["by_status"] == statuses(failed=1)
    assert stats["latency"]["from_receipt"] == {"count": 0, "p50": None, "p95": None, "p99": None}


def test_a_window_without_alerts_reports_zeros(admin):
    make_location(LAROCHELLE)
    stats = admin.get("/stats", query_string={"location": LAROCHELLE}).json
    assert stats["alerts"]["total"] == 0
    assert stats["deliveries"] == {"total": 0, "by_status": NO_DELIVERIES, "by_channel": {}}
    assert stats["locations"] == {}
    assert stats["latency"]["by_channel"] == {}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"window": 0}, 422),
        ({"window": 8 * 24 * 3600}, 422),
        ({"window": "hour"}, 422),
        ({"location": "x"}, 404),
    ],
)
def test_refuses_a_window_out_of_bounds_and_an_unknown_location(admin, query, status):
    response = admin.get("/stats", query_string=query)
    assert response.status_code == status, response.json


def test_admin_only(channels_app):
    client = channels_app.test_client()
    assert client.get("/stats").status_code == 401
    user = make_user(make_location())
    token = create_token(name="self", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid).token
    assert client.get("/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_latency_and_engagement_percentiles_are_the_nearest_rank_of_each_delivery(admin, delivered):
    """Each sent delivery of the window sent 1 to 5 s after its alert came, in turn, and the first two seen
    10 and 20 s after it: the database's percentiles of those figures."""
    sent = _db.session.scalars(
        sa.select(Delivery)
        .join(Delivery.alert)
        .where(Delivery.status == DeliveryStatus.SENT, Alert.received_at > utcnow() - timedelta(hours=1))
        .order_by(Delivery.id)
    ).all()
    assert len(sent) == 5
    for seconds, delivery in enumerate(sent, start=1):
        delivery.sent_at = delivery.alert.received_at + timedelta(seconds=seconds)
        if seconds <= 2:
            delivery.seen_at = delivery.alert.received_at + timedelta(seconds=10 * seconds)
    _db.session.commit()

    stats = admin.get("/stats").json
    assert stats["latency"]["from_receipt"] == {"count": 5, "p50": 3.0, "p95": 5.0, "p99": 5.0}
    by_channel = {
        channel: sorted(
            seconds for seconds, delivery in enumerate(sent, start=1) if delivery.channel == channel
        )
        for channel in ("push", "sms")
    }
    for channel, seconds in by_channel.items():
        figures = stats["latency"]["by_channel"][channel]["from_receipt"]
        median = seconds[(len(seconds) + 1) // 2 - 1]
        assert (figures["count"], figures["p50"], figures["p99"]) == (len(seconds), median, seconds[-1])
    assert stats["engagement"]["alert_to_seen"] == {"count": 2, "p50": 10.0, "p95": 20.0, "p99": 20.0}
    assert (stats["engagement"]["seen"], stats["engagement"]["seen_rate"]) == (2, 0.4)
