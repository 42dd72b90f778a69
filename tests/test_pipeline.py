"""The whole way: POST an alert, run the worker, read what the stub provider received over HTTP."""

import pytest
import sqlalchemy as sa

from nootification.models import Level
from tests.helpers.factories import alert_payload, make_location, make_user


@pytest.fixture
def staff(db):
    shop = make_location()
    other_shop = make_location("fr-leclerc-bordeaux-lac")
    users = {
        "standard": make_user(shop, level=Level.STANDARD),
        "critical": make_user(shop, other_shop, level=Level.CRITICAL),
        "elsewhere": make_user(other_shop, level=Level.STANDARD),
    }
    return {role: user.user_uuid for role, user in users.items()}


def test_theft_alert_reaches_each_user_of_the_shop_once(client, staff, stub, run_worker):
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).status_code == 201

    assert run_worker() == 2

    received = stub.messages(payload["alert_uuid"])
    assert received["count"] == 2
    assert received["duplicates"] == 0
    users = {message["target_user_uuid"] for message in received["messages"]}
    assert users == {staff["standard"], staff["critical"]}
    message = received["messages"][0]
    for field in ("url", "alert_uuid", "location", "label"):
        assert message[field] == payload[field]
    assert message["severity"] == "critical"
    assert message["time_spotted"] == pytest.approx(payload["time_spotted"], abs=1e-3)
    assert message["idempotency_key"] == message["delivery_id"]


def test_alert_detail_shows_each_delivery_sent(client, staff, run_worker):
    payload = alert_payload(label="suspicious")
    client.post("/webhooks/alerts", json=payload)
    run_worker()

    detail = client.get(f"/alerts/{payload['alert_uuid']}").json
    assert [d["user_uuid"] for d in detail["deliveries"]] == [staff["standard"]]
    delivery = detail["deliveries"][0]
    assert delivery["status"] == "sent"
    assert delivery["attempts"] == 1
    assert delivery["channel"] == "push"
    assert delivery["sent_at"] is not None


def test_running_the_worker_again_sends_nothing_twice(client, staff, stub, run_worker):
    payload = alert_payload()
    client.post("/webhooks/alerts", json=payload)
    run_worker()
    client.post("/webhooks/alerts", json=payload)
    assert run_worker() == 0
    assert stub.messages(payload["alert_uuid"])["count"] == 2


def test_unknown_alert_is_a_404(client, db):
    response = client.get("/alerts/33cbb18c-3e9d-4acc-9667-2fbe7bf29137")
    assert response.status_code == 404
    assert response.json["message"] == "No alert with this alert_uuid."


def test_the_alert_is_written_after_its_recipients_are_read(client, staff, db):
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.lstrip().split()[0].upper() + " " + statement)

    sa.event.listen(db.engine, "before_cursor_execute", remember)
    try:
        assert client.post("/webhooks/alerts", json=alert_payload()).status_code == 201
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", remember)
    first_write = next(i for i, text in enumerate(statements) if text.startswith(("INSERT", "UPDATE")))
    reads_of_staff = [i for i, text in enumerate(statements) if text.startswith("SELECT") and "users" in text]
    # A write before the reads would hold the database's write lock (SQLite has one) through them.
    assert reads_of_staff and max(reads_of_staff) < first_write
