"""Bursts become one conversation: a burst's first alert rings at once, the others are summed up once per
person and channel when the shop's window ends (an edit of the first message on Telegram), and nobody is rung
past their cap.

Real components: the engine sends to the stub's providers (SMTP for email, Telegram's Bot API over HTTP); the
summaries are scheduled rows the engine's own due-queueing takes.
"""

from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from nootification.delivery.summaries import add_summaries, summary_rows
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind, Level, utcnow
from nootification.services.recipients import Recipient
from tests.helpers.factories import admin_client, make_location, make_user, post_alert
from tests.helpers.metrics import delta, scrape
from tests.helpers.processes import drain_queue, queue_due_retries
from tests.helpers.staff import user_client

ADDRESSES = {
    "Camille": {"email": "camille@example.com", "telegram": "111111111"},
    "Hugo": {"email": "hugo@example.com", "telegram": "222222222"},
}


@pytest.fixture
def shop(channels_app):
    """A French shop grouping alerts over 120 s, with Camille and Hugo on email and Telegram."""
    channels_app.config.update(PUBLIC_URL="http://127.0.0.1:9", MAX_MESSAGES_PER_PERSON=6)
    client = admin_client(channels_app)
    location = make_location(display_name="Auchan La Rochelle", locale="fr-FR", timezone="Europe/Paris")
    for name, points in ADDRESSES.items():
        user = make_user(location, level=Level.STANDARD, name=name)
        for channel, address in points.items():
            answer = client.put(
                f"/users/{user.user_uuid}/contact-points/{channel}", json={"address": address}
            )
            assert answer.status_code == 200, answer.json
    answer = client.patch(f"/locations/{location.name}", json={"group_window_seconds": 120})
    assert answer.status_code == 200, answer.json
    return location


def sent_per_person_and_channel(stub) -> dict[tuple[str, str], int]:
    """How many messages (edits not counted) each address got on each channel at the stub."""
    counts: dict[tuple[str, str], int] = {}
    for message in stub.messages()["messages"]:
        key = (message.get("channel", "push"), message.get("address") or message["target_user_uuid"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def edits(stub) -> list[dict]:
    return requests.get(f"{stub.url}/edits", timeout=5).json()["edits"]


def test_ten_thefts_ring_once_and_are_summed_up_once_per_person_and_channel(channels_app, smtp_server, shop):
    stub = smtp_server
    before = scrape(admin_client(channels_app))
    answers = [post_alert(channels_app, label="theft") for _ in range(10)]
    drain_queue()
    rung = answers[0]["delivery_count"]
    assert rung == 6, "push, email and Telegram to each"
    assert [answer["delivery_count"] for answer in answers[1:]] == [0] * 9
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 10
    group_ids = set(db.session.scalars(sa.select(Alert.group_id)))
    assert len(group_ids) == 1 and None not in group_ids
    assert set(sent_per_person_and_channel(stub).values()) == {1}

    assert queue_due_retries(ahead=timedelta(seconds=60)) == 0, "summed up before the window's end"
    assert queue_due_retries(ahead=timedelta(seconds=125)) == 6
    drain_queue()

    counts = sent_per_person_and_channel(stub)
    emails = stub.messages(channel="email")["messages"]
    assert len(counts) == 6
    assert {key: count for key, count in counts.items() if key[0] == "telegram"} == {
        ("telegram", "111111111"): 1,
        ("telegram", "222222222"): 1,
    }, "Telegram's first message is edited instead"
    assert {count for key, count in counts.items() if key[0] != "telegram"} == {2}
    assert "9 autres alertes vol à Auchan La Rochelle" in emails[-1]["payload"]["subject"]
    telegram_edits = [edit for edit in edits(stub) if edit["channel"] == "telegram"]
    assert len(telegram_edits) == 2
    assert all(edit["text"].endswith("9 autres alertes vol à Auchan La Rochelle") for edit in telegram_edits)
    assert all(edit["buttons"] == ["J'y vais", "Ouvrir"] for edit in telegram_edits), telegram_edits
    after = scrape(admin_client(channels_app))
    assert delta(before, after, "nootification_messages_suppressed_total", reason="grouped") == 9 * 6
    assert delta(before, after, "nootification_alerts_quieted_total", reason="grouped") == 9
    assert delta(before, after, "nootification_alert_groups_total", reason="burst") == 1
    alerts = admin_client(channels_app).get("/stats").json["alerts"]
    assert alerts["total"] == 10 and alerts["groups"] == 1 and alerts["quiet"]["grouped"] == 9


def test_an_alert_after_the_window_or_of_another_label_starts_its_own_group(channels_app, shop):
    first = post_alert(channels_app, label="theft")
    other_label = post_alert(channels_app, label="suspicious")
    with db.session.begin_nested():
        db.session.execute(sa.update(Alert.__table__).values(received_at=utcnow() - timedelta(seconds=200)))
        db.session.execute(
            sa.text("UPDATE alert_groups SET closes_at = :t"), {"t": utcnow() - timedelta(seconds=80)}
        )
    db.session.commit()
    later = post_alert(channels_app, label="theft")
    assert first["delivery_count"] == other_label["delivery_count"] == later["delivery_count"] == 6
    assert len(set(db.session.scalars(sa.select(Alert.group_id)))) == 3


def test_claiming_one_alert_of_a_burst_claims_the_burst_but_each_keeps_its_outcome(channels_app, shop):
    uuids = [post_alert(channels_app, label="theft")["alert_uuid"] for _ in range(3)]
    camille = db.session.scalars(sa.select(Alert).limit(1)).one().location.users[0]
    client = user_client(channels_app, camille)
    answer = client.post(f"/alerts/{uuids[2]}/claim")
    assert answer.status_code in (200, 201), answer.json
    db.session.expire_all()
    claimed = dict(db.session.execute(sa.select(Alert.alert_uuid, Alert.claimed_by_id)).all())
    assert set(claimed.values()) == {camille.id}
    answer = client.post(f"/alerts/{uuids[0]}/outcome", json={"outcome": "false_alarm"})
    assert answer.status_code in (200, 201), answer.json
    db.session.expire_all()
    outcomes = dict(db.session.execute(sa.select(Alert.alert_uuid, Alert.outcome)).all())
    assert outcomes[uuids[0]] is not None and outcomes[uuids[1]] is None and outcomes[uuids[2]] is None


def test_past_the_cap_a_person_waits_for_the_groups_summary(channels_app, smtp_server, shop):
    stub = smtp_server
    channels_app.config["MAX_MESSAGES_PER_PERSON"] = 2
    before = scrape(admin_client(channels_app))
    answers = [post_alert(channels_app, label=label) for label in ("theft", "suspicious", "normal")]
    drain_queue()
    assert [answer["delivery_count"] for answer in answers] == [6, 6, 0]
    after = scrape(admin_client(channels_app))
    assert delta(before, after, "nootification_messages_suppressed_total", reason="capped") == 6
    assert queue_due_retries(ahead=timedelta(seconds=125)) == 6
    drain_queue()
    subjects = [m["payload"]["subject"] for m in stub.messages(channel="email")["messages"]]
    assert subjects.count("1 alerte événement à Auchan La Rochelle") == 2, subjects


def test_a_shop_with_a_window_of_0_rings_every_alert(channels_app, shop):
    admin_client(channels_app).patch(f"/locations/{shop.name}", json={"group_window_seconds": 0})
    answers = [post_alert(channels_app, label="theft") for _ in range(3)]
    assert [answer["delivery_count"] for answer in answers] == [6, 6, 6]
    assert set(db.session.scalars(sa.select(Alert.group_id))) == {None}


def test_the_window_is_checked_and_audited(channels_app, shop):
    client = admin_client(channels_app)
    for bad in (-1, 3601, "soon", 1.5):
        answer = client.patch(f"/locations/{shop.name}", json={"group_window_seconds": bad})
        assert answer.status_code == 422 and "group_window_seconds" in answer.json["errors"], bad
    assert client.get(f"/locations/{shop.name}").json["group_window_seconds"] == 120
    entries = client.get("/audit", query_string={"target_type": "location"}).json
    assert any(entry["changed"] == ["group_window_seconds"] for entry in entries["items"])


@pytest.mark.usefixtures("db")
def test_a_persons_summary_is_written_once_however_many_alerts_join(app):
    location = make_location()
    user = make_user(location)
    alert = Alert(
        alert_uuid="a" * 36,
        url="https://x",
        location=location,
        label="theft",
        severity="critical",
        time_spotted=utcnow(),
        received_at=utcnow(),
    )
    db.session.add(alert)
    db.session.commit()
    now = utcnow()
    for _ in range(3):
        rows = summary_rows(
            [Recipient(user.id, "email")], now=now, due=now, deadline=now + timedelta(hours=1)
        )
        add_summaries(rows, alert.id)
        db.session.commit()
    count = sa.select(sa.func.count()).select_from(Delivery).where(Delivery.kind == DeliveryKind.SUMMARY)
    assert db.session.scalar(count) == 1


def test_a_summary_of_alerts_someone_is_on_is_cancelled_unsent(channels_app, smtp_server, shop):
    uuids = [post_alert(channels_app, label="theft")["alert_uuid"] for _ in range(3)]
    drain_queue()
    camille = db.session.scalars(sa.select(Alert).limit(1)).one().location.users[0]
    assert user_client(channels_app, camille).post(f"/alerts/{uuids[1]}/claim").status_code == 200
    sent_before = len(smtp_server.messages(channel="email")["messages"])
    assert queue_due_retries(ahead=timedelta(seconds=125)) == 6
    drain_queue()
    summaries = db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.SUMMARY)).all()
    assert {summary.status.value for summary in summaries} == {"cancelled"}
    assert len(smtp_server.messages(channel="email")["messages"]) == sent_before
