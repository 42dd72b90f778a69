"""`POST /webhooks/alerts/batch`: a backfill, one result per item, one transaction, one queue push."""

import json
import time
import uuid

import pytest
import sqlalchemy as sa

from nootification.api.schemas.webhooks import MAX_BATCH_ALERTS
from nootification.delivery import ingest_batch, outbox
from nootification.extensions import db
from nootification.models import Alert, Delivery, Level
from nootification.services.tokens import create_token
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.metrics import delta, scrape
from tests.helpers.signatures import CURRENT, signed

BATCH = "/webhooks/alerts/batch"


@pytest.fixture
def shop(db):
    """A shop with one standard and one critical member of staff."""
    location = make_location()
    make_user(location, level=Level.STANDARD)
    make_user(location, level=Level.CRITICAL)
    return location


@pytest.fixture
def pushes(monkeypatch) -> list[int]:
    """The size of each push of jobs to Redis, the real push still made."""
    sizes: list[int] = []
    real = outbox.push_jobs

    def counted(jobs):
        sizes.append(len(jobs))
        return real(jobs)

    monkeypatch.setattr(outbox, "push_jobs", counted)
    return sizes


def alert_count(**where) -> int:
    """How many alerts are stored (with these column values)."""
    query = sa.select(sa.func.count()).select_from(Alert).filter_by(**where)
    return db.session.scalar(query)


def stored(alert_uuid: str) -> Alert | None:
    """The stored alert of this alert_uuid."""
    return db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == alert_uuid))


def test_a_mixed_batch_is_answered_item_by_item_in_order(client, shop, stub, run_worker, pushes):
    repeat, conflict = alert_payload(), alert_payload()
    assert client.post("/webhooks/alerts", json=repeat).status_code == 201
    assert client.post("/webhooks/alerts", json=conflict).status_code == 201
    run_worker()
    pushes.clear()
    new = alert_payload()
    bad_url = alert_payload(url="not a url")
    stale = alert_payload(time_spotted=time.time() - 2 * 3600)
    twice = alert_payload(label="suspicious")
    twice_other = {**twice, "label": "theft"}
    unknown_shop = alert_payload(location="fr-nowhere")
    items = [
        new,
        repeat,
        {**conflict, "label": "normal"},
        bad_url,
        stale,
        twice,
        twice,
        twice_other,
        unknown_shop,
        "not an object",
    ]

    response = client.post(BATCH, json={"alerts": items})

    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [result["index"] for result in results] == list(range(len(items)))
    assert [result["status"] for result in results] == [201, 200, 409, 422, 201, 201, 200, 409, 422, 422]
    assert [result["alert_uuid"] for result in results[:9]] == [item["alert_uuid"] for item in items[:9]]
    assert results[0]["delivery_count"] == 2
    assert results[1]["delivery_count"] == 2
    assert results[2]["errors"] == {"alert_uuid": [ingest_batch.CONFLICT]}
    assert results[3] == {
        "index": 3,
        "status": 422,
        "alert_uuid": bad_url["alert_uuid"],
        "errors": {"url": ["Not a valid URL."]},
    }
    assert results[4]["delivery_count"] == 0  # stored, pages nobody
    assert (results[5]["delivery_count"], results[6]["delivery_count"]) == (1, 1)
    assert "delivery_count" not in results[7]
    assert results[8]["errors"] == {"location": ["Unknown location."]}
    assert results[9] == {
        "index": 9,
        "status": 422,
        "alert_uuid": None,
        "errors": {"_schema": ["Invalid input type."]},
    }
    assert stored(bad_url["alert_uuid"]) is None
    assert stored(unknown_shop["alert_uuid"]) is None
    assert stored(conflict["alert_uuid"]).label == "theft"
    assert stored(twice["alert_uuid"]).label == "suspicious"
    stale_alert = stored(stale["alert_uuid"])
    assert stale_alert is not None and stale_alert.next_escalation_at is None
    assert alert_count() == 5

    assert pushes == [3]  # new: 2, twice: 1, in one push
    assert run_worker() == 3
    assert stub.messages(new["alert_uuid"])["count"] == 2
    assert stub.messages(twice["alert_uuid"])["count"] == 1
    assert stub.messages(stale["alert_uuid"])["count"] == 0
    assert stub.messages(repeat["alert_uuid"])["count"] == 2  # from its first post only


def test_each_item_counts_as_a_single_webhook_would(client, shop):
    repeat = alert_payload()
    client.post("/webhooks/alerts", json=repeat)
    before = scrape(client)
    items = [alert_payload(), alert_payload(), repeat, {**repeat, "url": "https://h.example/x.mp4"}]

    assert client.post(BATCH, json={"alerts": items + [alert_payload(label="fire")]}).status_code == 200

    after = scrape(client)
    moved = {
        outcome: delta(
            before,
            after,
            "nootification_alerts_received_total",
            label="theft",
            severity="critical",
            outcome=outcome,
        )
        for outcome in ("created", "duplicate", "conflict")
    }
    assert moved == {"created": 2, "duplicate": 1, "conflict": 1}


def test_a_stale_item_is_counted_as_quieted(client, shop):
    before = scrape(client)
    item = alert_payload(label="suspicious", time_spotted=time.time() - 3 * 3600)
    client.post(BATCH, json={"alerts": [item]})
    assert delta(before, scrape(client), "nootification_alerts_quieted_total", reason="stale") == 1


def test_a_critical_item_within_its_freshness_rings(client, shop):
    item = alert_payload(time_spotted=time.time() - 60)
    result = client.post(BATCH, json={"alerts": [item]}).json["results"][0]
    assert (result["status"], result["delivery_count"]) == (201, 2)
    assert stored(item["alert_uuid"]).next_escalation_at is not None


def test_later_items_see_the_groups_of_earlier_ones(client, db, run_worker, stub):
    grouping = make_location("fr-grouping", group_window_seconds=120)
    make_user(grouping, level=Level.STANDARD)
    items = [alert_payload("fr-grouping", label="suspicious") for _ in range(3)]

    results = client.post(BATCH, json={"alerts": items}).json["results"]

    assert [(result["status"], result["delivery_count"]) for result in results] == [
        (201, 1),
        (201, 0),
        (201, 0),
    ]
    grouped = db.session.scalars(sa.select(Alert.group_id).order_by(Alert.id)).all()
    assert grouped[0] is not None and set(grouped) == {grouped[0]}
    assert run_worker() == 1
    assert stub.messages(items[0]["alert_uuid"])["count"] == 1


def test_a_bad_batch_stores_nothing_and_pushes_nothing(client, shop, pushes):
    items = [alert_payload(url="ftp://x"), alert_payload(location="fr-nowhere"), alert_payload(label="fire")]
    results = client.post(BATCH, json={"alerts": items}).json["results"]
    assert [result["status"] for result in results] == [422, 422, 422]
    assert set(results[2]["errors"]) == {"label"}
    assert alert_count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
    assert pushes == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "Missing data for required field."),
        ({"alerts": []}, "Length must be between 1 and 100."),
        ({"alerts": "x"}, "Not a valid list."),
    ],
)
def test_a_body_without_a_list_of_alerts_is_a_422_on_alerts(client, shop, body, reason):
    response = client.post(BATCH, json=body)
    assert response.status_code == 422
    assert response.json["errors"] == {"alerts": [reason]}


def test_more_than_100_alerts_is_a_422_naming_alerts_and_nothing_stored(client, shop):
    items = [alert_payload() for _ in range(MAX_BATCH_ALERTS + 1)]
    response = client.post(BATCH, json={"alerts": items})
    assert response.status_code == 422
    assert response.json["errors"] == {"alerts": ["Length must be between 1 and 100."]}
    assert alert_count() == 0


def test_100_alerts_of_full_length_are_taken(client, shop, pushes):
    url = "https://media.example.com/" + "a" * 2000 + ".mp4"
    items = [alert_payload(url=url) for _ in range(MAX_BATCH_ALERTS)]
    assert len(json.dumps({"alerts": items})) > 64 * 1024  # past the single webhook's body limit
    response = client.post(BATCH, json={"alerts": items})
    assert response.status_code == 200
    assert {result["status"] for result in response.json["results"]} == {201}
    assert pushes == [2 * MAX_BATCH_ALERTS]


def test_a_body_over_the_batch_limit_is_a_413(client, shop):
    body = json.dumps({"alerts": [alert_payload()], "padding": "x" * 600 * 1024})
    response = client.post(BATCH, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json["code"] == 413
    assert alert_count() == 0


def test_another_request_storing_an_item_meanwhile_is_answered_not_a_500(client, shop, monkeypatch):
    earlier, other = alert_payload(), alert_payload()
    client.post("/webhooks/alerts", json=earlier)
    reads = []
    real = ingest_batch.stored_alerts

    def first_read_misses(uuids):
        # The first read came before the other request committed `earlier`.
        reads.append(uuids)
        return {} if len(reads) == 1 else real(uuids)

    monkeypatch.setattr(ingest_batch, "stored_alerts", first_read_misses)
    response = client.post(BATCH, json={"alerts": [other, earlier]})

    assert response.status_code == 200, response.json
    assert [result["status"] for result in response.json["results"]] == [201, 200]
    assert len(reads) == 2
    assert alert_count() == 2


def test_requests_storing_items_one_after_the_other_meanwhile_are_answered_not_a_500(
    client, shop, monkeypatch
):
    other, first, second = alert_payload(), alert_payload(), alert_payload()
    client.post("/webhooks/alerts", json=first)
    client.post("/webhooks/alerts", json=second)
    reads = []
    real = ingest_batch.stored_alerts

    def reads_lag_behind(uuids):
        # Read 1 came before both other requests committed, read 2 between them.
        reads.append(uuids)
        found = real(uuids)
        hidden = [first["alert_uuid"], second["alert_uuid"]][len(reads) - 1 :]
        return {uuid: alert for uuid, alert in found.items() if uuid not in hidden}

    monkeypatch.setattr(ingest_batch, "stored_alerts", reads_lag_behind)
    response = client.post(BATCH, json={"alerts": [other, first, second]})

    assert response.status_code == 200, response.json
    assert [result["status"] for result in response.json["results"]] == [201, 200, 200]
    assert len(reads) == 3
    assert alert_count() == 3


def test_the_batch_is_refused_unauthenticated_as_the_single_webhook(anonymous, shop):
    body = {"alerts": [alert_payload()]}
    single = anonymous.post("/webhooks/alerts", json=alert_payload())
    response = anonymous.post(BATCH, json=body)
    assert (single.status_code, response.status_code) == (401, 401)
    assert response.json["message"] == single.json["message"]
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert alert_count() == 0


def test_a_token_without_alerts_write_is_a_403(anonymous, shop):
    user = make_user(shop)
    token = create_token(name="self", scopes=["preferences:self"], user_uuid=user.user_uuid).token
    headers = {"Authorization": f"Bearer {token}"}
    response = anonymous.post(BATCH, json={"alerts": [alert_payload()]}, headers=headers)
    assert response.status_code == 403
    assert "alerts:write" in response.json["message"]
    assert alert_count() == 0


def test_an_alerts_write_token_may_post_a_batch(anonymous, shop):
    token = create_token(name="vendor", scopes=["alerts:write"]).token
    headers = {"Authorization": f"Bearer {token}"}
    response = anonymous.post(BATCH, json={"alerts": [alert_payload()]}, headers=headers)
    assert response.status_code == 200
    assert response.json["results"][0]["status"] == 201


def test_a_signed_batch_is_taken_and_its_replay_gets_the_same_answer(signed_app, anonymous, pushes):
    body = json.dumps({"alerts": [alert_payload(), alert_payload()]}).encode()
    headers = signed(body)
    first = anonymous.post(BATCH, data=body, headers=headers)
    again = anonymous.post(BATCH, data=body, headers=signed(body, webhook_id=headers["webhook-id"]))
    assert (first.status_code, again.status_code) == (200, 200)
    assert [result["status"] for result in first.json["results"]] == [201, 201]
    assert again.json == first.json
    assert alert_count() == 2
    assert pushes == [2]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body + b" ", headers),
        lambda body, headers: (body, {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}),
        lambda body, headers: (body, signed(body, "whsec_" + "A" * 40)),
    ],
    ids=["body changed", "stale", "other secret"],
)
def test_a_badly_signed_batch_is_a_401_and_nothing_stored(signed_app, anonymous, tamper):
    body = json.dumps({"alerts": [alert_payload()]}).encode()
    sent_body, headers = tamper(body, signed(body, CURRENT))
    response = anonymous.post(BATCH, data=sent_body, headers=headers)
    assert response.status_code == 401, response.json
    assert response.json["message"].startswith("Webhook signature refused")
    assert alert_count() == 0


def test_a_batch_webhook_id_reused_for_another_body_is_a_409(signed_app, anonymous):
    body = json.dumps({"alerts": [alert_payload()]}).encode()
    headers = signed(body)
    assert anonymous.post(BATCH, data=body, headers=headers).status_code == 200
    other = json.dumps({"alerts": [alert_payload()]}).encode()
    response = anonymous.post(BATCH, data=other, headers=signed(other, webhook_id=headers["webhook-id"]))
    assert response.status_code == 409
    assert "webhook-id" in response.json["errors"]
    assert alert_count() == 1


def test_redis_down_still_stores_the_batch_with_its_deliveries_pending(client, shop, redis_down):
    response = client.post(BATCH, json={"alerts": [alert_payload(), alert_payload()]})
    assert response.status_code == 200
    assert [result["status"] for result in response.json["results"]] == [201, 201]
    statuses = set(db.session.scalars(sa.select(Delivery.status)))
    assert {status.value for status in statuses} == {"pending"}


def test_a_batch_with_a_fresh_uuid_each_stores_each(client, shop):
    items = [alert_payload(alert_uuid=str(uuid.uuid4())) for _ in range(5)]
    results = client.post(BATCH, json={"alerts": items}).json["results"]
    assert [result["status"] for result in results] == [201] * 5


def test_the_single_webhook_still_rings_an_alert_spotted_long_ago(client, shop):
    # Its deliveries' freshness runs from receipt; only a batch (a backfill) judges an item by time_spotted.
    response = client.post("/webhooks/alerts", json=alert_payload(time_spotted=time.time() - 2 * 3600))
    assert (response.status_code, response.json["delivery_count"]) == (201, 2)


def test_the_openapi_document_describes_the_batch(anonymous):
    spec = anonymous.get("/openapi.json").json
    operation = spec["paths"][BATCH]["post"]
    assert {"webhookSignature": []} in operation["security"]
    assert {"200", "401", "403", "409", "413", "422", "default"} <= set(operation["responses"])
    schemas = spec["components"]["schemas"]
    alerts = schemas["AlertBatchIn"]["properties"]["alerts"]
    assert (alerts["maxItems"], alerts["items"]) == (
        MAX_BATCH_ALERTS,
        {"$ref": "#/components/schemas/AlertIn"},
    )
    result = schemas["BatchItemResult"]["properties"]
    assert result["status"]["enum"] == [201, 200, 409, 422]
    assert {"index", "alert_uuid", "delivery_count", "errors"} <= set(result)
