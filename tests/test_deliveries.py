"""Dead letters: listing deliveries, retrying one, replaying an alert."""

import pytest

from nootification.delivery.batch import prepare
from nootification.delivery.breakers import Breakers
from nootification.extensions import db, redis_queue
from nootification.models import DeliveryStatus, Level, utcnow
from nootification.senders import get_sender
from nootification.services import pages
from tests.helpers.factories import alert_payload, make_location, make_user, stored_deliveries


@pytest.fixture
def half_failed_alert(client, stub, run_worker) -> str:
    """An alert to two users whose first delivery was refused (failed) and second sent."""
    shop = make_location()
    make_user(shop, level=Level.STANDARD)
    make_user(shop, level=Level.STANDARD)
    make_location("fr-cora-metz")
    payload = alert_payload()
    client.post("/webhooks/alerts", json=payload)
    stub.control(fail_next=1, fail_next_status=400)
    run_worker()
    assert sorted(d.status.value for d in stored_deliveries()) == ["failed", "sent"]
    return payload["alert_uuid"]


def test_list_filters_by_status_and_alert(client, half_failed_alert):
    failed = client.get("/deliveries?status=failed").json
    assert failed["total"] == 1
    assert failed["items"][0]["status"] == "failed"
    assert failed["items"][0]["alert_uuid"] == half_failed_alert
    assert "HTTP 400" in failed["items"][0]["last_error"]
    assert client.get(f"/deliveries?alert_uuid={half_failed_alert}").json["total"] == 2
    assert client.get("/deliveries?location=fr-cora-metz").json["total"] == 0
    assert client.get("/deliveries?location=fr-auchan-larochelle&channel=push").json["total"] == 2
    assert client.get("/deliveries?since=2999-01-01T00:00:00Z").json["total"] == 0
    assert client.get("/deliveries?until=2999-01-01T00:00:00Z").json["total"] == 2


def test_list_is_paginated(client, half_failed_alert):
    first = client.get("/deliveries?page_size=1&page=1").json
    second = client.get("/deliveries?page_size=1&page=2").json
    assert (first["total"], first["total_exact"], len(first["items"]), len(second["items"])) == (
        2,
        True,
        1,
        1,
    )
    assert first["items"][0]["id"] != second["items"][0]["id"]


def test_the_total_stops_counting_at_its_bound_and_says_so(client, half_failed_alert, monkeypatch):
    monkeypatch.setattr(pages, "TOTAL_LIMIT", 1)
    bounded = client.get("/deliveries?page_size=5").json
    assert (bounded["total"], bounded["total_exact"], len(bounded["items"])) == (1, False, 2)
    failed = client.get("/deliveries?status=failed").json
    assert (failed["total"], failed["total_exact"]) == (1, True)


@pytest.mark.parametrize(
    "query", ["status=lost", "page=0", "page_size=1000", "alert_uuid=nope", "since=yesterday"]
)
def test_bad_filters_are_a_422(client, db, query):
    response = client.get(f"/deliveries?{query}")
    assert response.status_code == 422
    assert query.split("=")[0] in response.json["errors"]["query"]


def test_delivery_detail_shows_the_attempt_ledger(client, half_failed_alert):
    failed_id = client.get("/deliveries?status=failed").json["items"][0]["id"]
    detail = client.get(f"/deliveries/{failed_id}").json
    assert [(a["number"], a["outcome"], a["http_status"]) for a in detail["attempt_log"]] == [
        (1, "permanent", 400)
    ]


def test_retry_sends_a_failed_delivery_again(client, half_failed_alert, stub, run_worker):
    failed_id = client.get("/deliveries?status=failed").json["items"][0]["id"]
    response = client.post(f"/deliveries/{failed_id}/retry")
    assert response.status_code == 202
    assert response.json["status"] == "queued"
    run_worker()
    assert client.get(f"/deliveries/{failed_id}").json["status"] == "sent"
    assert stub.messages(half_failed_alert)["count"] == 2


def test_retry_of_a_sent_delivery_is_a_409(client, half_failed_alert):
    sent_id = client.get("/deliveries?status=sent").json["items"][0]["id"]
    assert client.post(f"/deliveries/{sent_id}/retry").status_code == 409


def test_unknown_delivery_is_a_404(client, db):
    assert client.get("/deliveries/nope").status_code == 404
    assert client.post("/deliveries/nope/retry").status_code == 404


def test_replay_sends_only_what_was_not_sent(client, half_failed_alert, stub, run_worker):
    response = client.post(f"/alerts/{half_failed_alert}/replay")
    assert response.status_code == 202
    assert response.json["replayed"] == 1
    run_worker()
    received = stub.messages(half_failed_alert)
    assert (received["count"], received["duplicates"]) == (2, 0)
    assert client.post(f"/alerts/{half_failed_alert}/replay").json["replayed"] == 0
    assert {d.status for d in stored_deliveries()} == {DeliveryStatus.SENT}


def test_replay_of_an_unknown_alert_is_a_404(client, db):
    assert client.post("/alerts/33cbb18c-3e9d-4acc-9667-2fbe7bf29137/replay").status_code == 404


def test_cli_lists_retries_and_replays(app, half_failed_alert, stub, run_worker):
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["deliveries", "list", "--status", "failed"])
    assert listing.exit_code == 0
    failed_id = listing.output.split()[0]
    assert "1 of 1" in listing.output

    assert "is queued" in runner.invoke(args=["deliveries", "retry", failed_id]).output
    refused = runner.invoke(args=["deliveries", "retry", failed_id])
    assert refused.exit_code == 1 and "Only failed or expired" in refused.output
    run_worker()
    assert "replayed 0 deliveries" in runner.invoke(args=["alerts", "replay", half_failed_alert]).output
    assert runner.invoke(args=["alerts", "replay", "nope"]).exit_code == 1
    assert stub.messages(half_failed_alert)["count"] == 2


def test_an_attempt_in_flight_shows_no_end_and_no_latency(app, client, queued_delivery):
    delivery_id = stored_deliveries()[0].id
    # A worker claims the delivery and records its first attempt before the request leaves.
    [ready] = prepare(
        db.session,
        [delivery_id],
        get_sender=get_sender,
        breakers=Breakers(redis_queue.connection, threshold=5, cooldown=30),
        config=app.config,
        now=utcnow(),
    )
    assert ready.first_number == 1

    detail = client.get(f"/deliveries/{delivery_id}").json
    assert detail["status"] == "sending"
    assert detail["attempts"] == 0  # counted once it ends
    assert detail["attempt_log"] == [
        {
            "number": 1,
            "started_at": detail["attempt_log"][0]["started_at"],
            "finished_at": None,
            "outcome": "in_flight",
            "http_status": None,
            "error_class": None,
            "error_message": None,
            "latency_ms": None,
            "retry_after": None,
            "provider_status": None,
            "provider_error_code": None,
            "provider_status_at": None,
        }
    ]
