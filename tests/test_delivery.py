"""One delivery through the worker: Retry-After, freshness deadlines and the circuit breaker."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from nootification.delivery.batch import prepare
from nootification.delivery.breakers import Breakers
from nootification.delivery.circuit import KEY_PREFIX
from nootification.delivery.outbox import queue_due
from nootification.delivery.queue import periodic_scheduler
from nootification.extensions import db, redis_queue
from nootification.models import DeliveryStatus, Level, utcnow
from nootification.senders import get_sender
from tests.helpers.factories import (
    alert_payload,
    make_location,
    make_user,
    stored_deliveries,
    stored_delivery,
)
from tests.helpers.processes import drain_queue


def test_retry_after_is_honoured_by_rescheduling_not_sleeping(client, queued_delivery, stub, run_worker):
    stub.control(fail_next=1, fail_next_status=429, retry_after=120)
    before = utcnow()
    run_worker()

    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.SCHEDULED
    assert delivery.attempts == 1
    assert delivery.attempt_log[0].retry_after == 120
    assert timedelta(seconds=119) <= delivery.next_attempt_at - before <= timedelta(seconds=125)
    assert list(periodic_scheduler().get_jobs()) == []  # the row with its due time is the retry: no job


def test_exhausted_quick_attempts_back_off_with_a_growing_round(
    app, client, queued_delivery, stub, run_worker
):
    app.config.update(RETRY_BACKOFF_BASE=10.0, RETRY_BACKOFF_CAP=10.0)
    stub.control(fail_next=3, fail_next_status=500)
    before = utcnow()
    run_worker()
    delivery = stored_delivery()
    assert (delivery.status, delivery.retry_round) == (DeliveryStatus.SCHEDULED, 1)
    assert before <= delivery.next_attempt_at <= before + timedelta(seconds=11)


def test_delivery_picked_up_after_its_deadline_expires_unsent(client, queued_delivery, stub, run_worker):
    delivery = stored_delivery()
    delivery.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    run_worker()
    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.EXPIRED
    assert delivery.attempts == 0
    assert stub.messages(queued_delivery)["count"] == 0


def test_retry_that_would_land_after_the_deadline_expires_instead(client, queued_delivery, stub, run_worker):
    delivery = stored_delivery()
    delivery.deadline_at = utcnow() + timedelta(seconds=60)
    db.session.commit()
    stub.control(fail_next=1, fail_next_status=429, retry_after=300)
    run_worker()
    delivery = stored_delivery()
    assert delivery.status is DeliveryStatus.EXPIRED
    assert "HTTP 429" in delivery.last_error


@pytest.fixture
def busy_shop(client):
    shop = make_location()
    for _ in range(3):
        make_user(shop, level=Level.STANDARD)


def test_open_breaker_defers_without_calling_the_provider_then_a_probe_closes_it(
    app, client, busy_shop, stub
):
    app.config.update(BREAKER_FAILURE_THRESHOLD=2, BREAKER_COOLDOWN=60)
    stub.control(fail_next=2, fail_next_status=500)
    payload = alert_payload()
    client.post("/webhooks/alerts", json=payload)
    # One send at a time: which delivery meets the two failures, and that no quick retry races the breaker
    # opening, must not depend on which of two slots answers first.
    drain_queue(concurrency=1)

    # The first delivery fails twice, which opens the breaker before its third quick attempt.
    deliveries = stored_deliveries()
    assert all(d.status is DeliveryStatus.SCHEDULED for d in deliveries)
    assert sorted(d.attempts for d in deliveries) == [0, 0, 2]
    for deferred in deliveries:
        assert "circuit push:127.0.0.1:" in deferred.last_error
        assert deferred.next_attempt_at - utcnow() > timedelta(seconds=50)
    assert stub.messages(payload["alert_uuid"])["raw_receipts"] == 0
    control = stub.control()
    assert control["counters"]["rejected"] == 2

    # The cooldown ends: one probe goes out, succeeds and closes the breaker for the rest.
    for key in redis_queue.connection.scan_iter(f"{KEY_PREFIX}*:open_until"):
        redis_queue.connection.set(key, 0)
    queue_due(db.session, utcnow() + timedelta(minutes=5), 100)
    drain_queue(concurrency=1)
    assert {d.status for d in stored_deliveries()} == {DeliveryStatus.SENT}
    assert stub.messages(payload["alert_uuid"])["count"] == 3


def test_permanent_refusal_does_not_trip_the_breaker(app, client, busy_shop, stub, run_worker):
    app.config.update(BREAKER_FAILURE_THRESHOLD=2)
    stub.control(fail_next=2, fail_next_status=400)
    payload = alert_payload()
    client.post("/webhooks/alerts", json=payload)
    run_worker()
    statuses = sorted(d.status.value for d in stored_deliveries())
    assert statuses == ["failed", "failed", "sent"]


class WriteProbingBreakers(Breakers):
    """Breakers that, when asked, check from another connection whether the deliveries can be written."""

    def __init__(self, delivery_id: str):
        super().__init__(redis_queue.connection, threshold=5, cooldown=30)
        self.delivery_id = delivery_id
        self.writable: list[bool] = []

    def allow(self, name: str) -> bool:
        """Probe, then answer as the real breakers would."""
        self.writable.append(_can_write(self.delivery_id))
        return super().allow(name)


def _can_write(delivery_id: str) -> bool:
    engine = sa.create_engine(db.engine.url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA busy_timeout=0")
            else:
                connection.exec_driver_sql("SET lock_timeout = '200ms'")
            connection.execute(
                sa.text("UPDATE deliveries SET updated_at = updated_at WHERE id = :id"), {"id": delivery_id}
            )
            connection.rollback()
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def test_the_claim_is_committed_before_the_breakers_are_asked(app, client, queued_delivery):
    # The breakers live in Redis: a stalled Redis must not hold the database's write lock, which every
    # other worker's claim and outcomes wait for.
    delivery_id = stored_delivery().id
    breakers = WriteProbingBreakers(delivery_id)

    [ready] = prepare(
        db.session, [delivery_id], get_sender=get_sender, breakers=breakers, config=app.config, now=utcnow()
    )

    assert ready.delivery.id == delivery_id
    assert breakers.writable == [True]


class SlowBreakers(Breakers):
    """Breakers read through a stalled Redis: while they are asked, the sweeper gives one delivery away."""

    def __init__(self, given_away: str):
        super().__init__(redis_queue.connection, threshold=5, cooldown=30)
        self.given_away = given_away

    def allow(self, name: str) -> bool:
        """Let the sweeper take one delivery back (its lease moved on), then answer as the real ones would."""
        db.session.execute(
            sa.text("UPDATE deliveries SET status = 'queued', lease_expires_at = NULL WHERE id = :id"),
            {"id": self.given_away},
        )
        db.session.commit()
        self.given_away = ""
        return super().allow(name)


def test_a_claim_whose_breakers_took_long_renews_its_lease_and_drops_what_was_given_away(app, client):
    shop = make_location()
    make_user(shop, level=Level.STANDARD)
    make_user(shop, level=Level.STANDARD)
    assert client.post("/webhooks/alerts", json=alert_payload()).json["delivery_count"] == 2
    kept, given_away = (delivery.id for delivery in stored_deliveries())
    claimed_at = utcnow() - timedelta(seconds=30)  # the breakers answered 30 s after the claim

    ready = prepare(
        db.session,
        [kept, given_away],
        get_sender=get_sender,
        breakers=SlowBreakers(given_away),
        config=app.config,
        now=claimed_at,
    )

    assert [item.delivery.id for item in ready] == [kept]
    renewed = ready[0].delivery.lease
    assert renewed > utcnow() + timedelta(seconds=app.config["DELIVERY_LEASE"] - 5)
    db.session.expire_all()
    assert {d.id: d.lease_expires_at for d in stored_deliveries()}[kept] == renewed
    assert {d.id: d.status for d in stored_deliveries()}[given_away] is DeliveryStatus.QUEUED
