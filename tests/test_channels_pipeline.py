"""One alert to staff with contact points on several channels, routed by label, rendered by templates."""

import sqlalchemy as sa
from rq import SimpleWorker

from nootification.delivery.queue import delivery_queue
from nootification.delivery.queue.json_jobs import JOB_FORMAT
from nootification.extensions import db as _db
from nootification.extensions import redis_queue
from nootification.models import Level
from nootification.services.tokens import ADMIN, create_token
from tests.helpers.factories import alert_payload, make_location, make_user

ADDRESSES = {
    "slack": "C0123456789",
    "telegram": "-1001234567890",
    "sms": "+33612345678",
    "email": "camille@example.com",
}


def test_each_channel_receives_what_its_route_and_levels_allow(channels_app, smtp_server):
    client = channels_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(name='t', scopes=[ADMIN]).token}"
    shop = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris")
    everywhere = make_user(shop, level=Level.STANDARD, name="Camille")
    quiet = make_user(shop, level=Level.CRITICAL, name="Hugo")
    for channel, address in ADDRESSES.items():
        response = client.put(
            f"/users/{everywhere.user_uuid}/contact-points/{channel}", json={"address": address}
        )
        assert response.status_code == 200, response.json
    client.put(f"/users/{quiet.user_uuid}/contact-points/sms", json={"address": "+33699999999"})
    client.post("/routes", json={"label": "theft", "channels": ["push", "sms", "email", "slack", "telegram"]})
    client.post("/routes", json={"label": "suspicious", "channels": ["push", "slack"]})
    client.post(
        "/templates",
        json={
            "label": "theft",
            "channel": "sms",
            "locale": "en",
            "body": "THEFT {{ location_name }} {{ local_time }}",
        },
    )

    theft = alert_payload(label="theft", time_spotted=1742470260.0)  # 11:31 UTC, 12:31 in Paris
    suspicious = alert_payload(label="suspicious")
    assert client.post("/webhooks/alerts", json=theft).json["delivery_count"] == 5 + 2
    assert client.post("/webhooks/alerts", json=suspicious).json["delivery_count"] == 2
    SimpleWorker([delivery_queue()], connection=redis_queue.connection, **JOB_FORMAT).work(burst=True)

    everything = smtp_server.messages()["messages"]

    def received(channel: str) -> list[dict]:
        # The push provider's records are the original wire format, without a channel field.
        return [m for m in everything if m.get("channel", "push") == channel]

    push_alerts = sorted(m["alert_uuid"] for m in received("push"))
    assert push_alerts == sorted([theft["alert_uuid"]] * 2 + [suspicious["alert_uuid"]])
    sms = received("sms")
    assert sorted(m["address"] for m in sms) == ["+33612345678", "+33699999999"]
    assert {m["text"].split("\n")[0] for m in sms} == {"THEFT Auchan La Rochelle 12:31"}
    assert len(received("slack")) == 2
    [telegram] = received("telegram")
    [mail] = received("email")
    assert mail["address"] == "camille@example.com"
    assert "Theft spotted at Auchan La Rochelle at 12:31 (critical)." in mail["text"]
    for message in [*sms, telegram, mail]:  # the shipped template and the senders give the link once
        assert message["text"].count(theft["url"]) == 1, message["text"]
    # Every message carries its recipient's own action link to the staff page.
    staff_page = f"{channels_app.config['PUBLIC_URL']}/s/"
    for message in [*sms, telegram, mail]:
        assert message["text"].count(staff_page) == 1, message["text"]
    links = {m["action_url"] for m in received("push")}
    assert len(links) == 3 and all(link.startswith(staff_page) for link in links)
    for message in received("slack"):
        buttons = message["payload"]["blocks"][-1]["elements"]
        assert [button["action_id"] for button in buttons] == ["open_video", "claim", "open_staff_page"]
    statuses = _db.session.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")).all()
    assert dict(statuses) == {"sent": 9}


def test_a_send_again_after_an_unknown_outcome_says_it_is_a_repeat_where_the_provider_cannot_drop_it(
    channels_app, smtp_server
):
    client = channels_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(name='t', scopes=[ADMIN]).token}"
    user = make_user(make_location(), level=Level.STANDARD, name="Camille")
    client.put(f"/users/{user.user_uuid}/contact-points/sms", json={"address": ADDRESSES["sms"]})
    alert = alert_payload(label="theft")
    assert client.post("/webhooks/alerts", json=alert).json["delivery_count"] == 2  # push and SMS
    # Each delivery's first attempt went out from a worker that died: its outcome is unknown.
    _db.session.execute(
        sa.text(
            "INSERT INTO delivery_attempts (delivery_id, number, started_at, outcome) "
            "SELECT id, 1, created_at, 'unknown' FROM deliveries"
        )
    )
    _db.session.commit()
    SimpleWorker([delivery_queue()], connection=redis_queue.connection, **JOB_FORMAT).work(burst=True)

    everything = smtp_server.messages()["messages"]
    [sms] = [m for m in everything if m.get("channel") == "sms"]
    assert sms["text"].startswith("Repeat: Theft at ")
    [push] = [m for m in everything if "channel" not in m]
    assert push["idempotency_key"]  # the provider drops a repeat by its key: nothing to say
    attempts = _db.session.execute(
        sa.text("SELECT number, outcome FROM delivery_attempts ORDER BY 1, 2")
    ).all()
    assert attempts == [(1, "unknown"), (1, "unknown"), (2, "sent"), (2, "sent")]


def staff_everywhere(channels_app):
    """A client with an admin token, and one member of staff with a contact point on every text channel."""
    client = channels_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(name='t', scopes=[ADMIN]).token}"
    user = make_user(make_location(), level=Level.STANDARD, name="Camille")
    for channel, address in ADDRESSES.items():
        response = client.put(f"/users/{user.user_uuid}/contact-points/{channel}", json={"address": address})
        assert response.status_code == 200, response.json
    return client


def test_each_channel_cuts_a_huge_rendered_text_to_its_providers_limit(channels_app, smtp_server, caplog):
    client = staff_everywhere(channels_app)
    template = {"label": "theft", "channel": "*", "locale": "en", "subject": "{{ 'S' * 900 }}"}
    assert client.post("/templates", json={**template, "body": "{{ 'Vol ! ' * 12000 }}"}).status_code == 201

    assert client.post("/webhooks/alerts", json=alert_payload(label="theft")).json["delivery_count"] == 5
    SimpleWorker([delivery_queue()], connection=redis_queue.connection, **JOB_FORMAT).work(burst=True)

    received = {m.get("channel", "push"): m for m in smtp_server.messages()["messages"]}
    assert sorted(received) == ["email", "push", "slack", "sms", "telegram"]
    assert len(received["sms"]["text"]) <= 1600
    assert len(received["telegram"]["text"]) <= 4096
    header, section = received["slack"]["payload"]["blocks"][:2]
    assert (len(header["text"]["text"]), len(section["text"]["text"])) == (150, 3000)
    assert len(received["email"]["text"]) < 51_000
    statuses = _db.session.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")).all()
    assert dict(statuses) == {"sent": 5}
    assert "is cut to sms's limit of 1600" in caplog.text


def test_a_repetition_too_long_for_any_channel_is_refused_when_the_template_is_saved(channels_app):
    client = staff_everywhere(channels_app)
    template = {"label": "theft", "channel": "*", "locale": "en", "body": "{{ label * 1000000 }}"}

    response = client.post("/templates", json=template)

    assert response.status_code == 422
    assert "repetition longer than" in response.json["errors"]["body"][0]


def test_a_stored_template_failing_on_real_values_gives_way_to_the_built_in_one(
    channels_app, smtp_server, caplog
):
    client = staff_everywhere(channels_app)
    # Checked at save time with the sample alert (a theft), it fails for any other label.
    template = {"label": "*", "channel": "*", "locale": "en", "body": "{{ {'theft': 'Vol'}[label] }}"}
    assert client.post("/templates", json=template).status_code == 201

    assert client.post("/webhooks/alerts", json=alert_payload(label="suspicious")).json["delivery_count"] == 5
    SimpleWorker([delivery_queue()], connection=redis_queue.connection, **JOB_FORMAT).work(burst=True)

    received = {m.get("channel", "push"): m for m in smtp_server.messages()["messages"]}
    assert sorted(received) == ["email", "push", "slack", "sms", "telegram"]
    assert received["sms"]["text"].startswith("Suspicious at ")
    assert "Suspicious spotted at " in received["email"]["text"]
    statuses = _db.session.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")).all()
    assert dict(statuses) == {"sent": 5}
    assert "the built-in one is used" in caplog.text
