"""Calm on an alert's path: a silence keeps an alert from everyone, a closed shop holds its standard alerts
until it opens (one summary per person and channel) and takes its critical ones to its off-hours tier, on the
shop's wall clock.

Real components: the engine sends to the stub's SMTP server; the opening's summaries are scheduled rows the
engine's own due-queueing takes.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from nootification.delivery.calm import audience_of
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind, Level, Severity, User, utcnow
from tests.helpers.factories import admin_client, make_location, make_user, post_alert
from tests.helpers.metrics import delta, scrape
from tests.helpers.processes import drain_queue, queue_due_retries
from tests.helpers.staff import user_client

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def shop(channels_app):
    """A French shop with Camille (floor, every alert) and Dominique (its off-hours tier), both on email."""
    client = admin_client(channels_app)
    location = make_location(display_name="Auchan La Rochelle", locale="fr-FR", timezone="Europe/Paris")
    camille = make_user(location, level=Level.STANDARD, name="Camille")
    dominique = make_user(level=Level.CRITICAL, name="Dominique")
    for user, address in ((camille, "camille@example.com"), (dominique, "dominique@example.com")):
        answer = client.put(f"/users/{user.user_uuid}/contact-points/email", json={"address": address})
        assert answer.status_code == 200, answer.json
    answer = client.patch(f"/locations/{location.name}", json={"off_hours_tier": [dominique.user_uuid]})
    assert answer.status_code == 200, answer.json
    return location


def mailed(smtp_server) -> list[tuple[str, str]]:
    """(address, subject) of each mail the stub received."""
    return [
        (m["address"], m["payload"]["subject"]) for m in smtp_server.messages(channel="email")["messages"]
    ]


def close_today(app, shop) -> None:
    """Close the shop for today (its local date) and tomorrow; it opens at 08:30 the day after."""
    today = datetime.now(PARIS).date()
    closures = [str(today), str(today + timedelta(days=1))]
    hours = {day: [["08:30", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    answer = admin_client(app).patch(
        f"/locations/{shop.name}", json={"closures": closures, "opening_hours": hours}
    )
    assert answer.status_code == 200, answer.json


def test_a_silence_stops_its_labels_and_nothing_else(channels_app, smtp_server, shop):
    client = admin_client(channels_app)
    silence = client.post(
        f"/locations/{shop.name}/silences",
        json={
            "labels": ["suspicious"],
            "ends_at": (utcnow() + timedelta(hours=1)).isoformat(),
            "comment": "works",
        },
    )
    assert silence.status_code == 201, silence.json
    before = scrape(client)
    silenced = post_alert(channels_app, label="suspicious")
    other = post_alert(channels_app, label="normal")
    critical = post_alert(channels_app, label="theft")
    drain_queue()
    assert silenced["delivery_count"] == 0
    assert other["delivery_count"] == critical["delivery_count"] == 2, "push and email"
    detail = client.get(f"/alerts/{silenced['alert_uuid']}").json
    assert detail["silence_id"] == silence.json["id"] and detail["deliveries"] == []
    assert client.get(f"/alerts/{other['alert_uuid']}").json["silence_id"] is None
    assert [address for address, _subject in mailed(smtp_server)] == ["camille@example.com"] * 2
    assert delta(before, scrape(client), "nootification_alerts_quieted_total", reason="silenced") == 1
    assert client.get("/stats").json["alerts"]["quiet"] == {"grouped": 0, "closed": 0, "silenced": 1}

    ended = client.delete(f"/locations/{shop.name}/silences/{silence.json['id']}")
    assert ended.status_code == 200, ended.json
    assert post_alert(channels_app, label="suspicious")["delivery_count"] == 2


def test_a_silence_that_includes_critical_holds_thefts_too(channels_app, shop):
    client = admin_client(channels_app)
    body = {"ends_at": (utcnow() + timedelta(hours=1)).isoformat(), "comment": "inventory"}
    assert client.post(f"/locations/{shop.name}/silences", json=body).status_code == 201
    assert post_alert(channels_app, label="theft")["delivery_count"] == 2, (
        "a critical alert is not silenced by default"
    )
    body["include_critical"] = True
    assert client.post(f"/locations/{shop.name}/silences", json=body).status_code == 201
    assert post_alert(channels_app, label="theft")["delivery_count"] == 0


def test_a_closed_shop_holds_standard_alerts_until_it_opens_and_sums_them_up(channels_app, smtp_server, shop):
    close_today(channels_app, shop)
    before = scrape(admin_client(channels_app))
    answers = [post_alert(channels_app, label=label) for label in ("suspicious", "normal", "suspicious")]
    drain_queue()
    assert [answer["delivery_count"] for answer in answers] == [0, 0, 0]
    assert mailed(smtp_server) == []
    detail = admin_client(channels_app).get(f"/alerts/{answers[1]['alert_uuid']}").json
    opens = datetime.combine(datetime.now(PARIS).date() + timedelta(days=2), datetime.min.time())
    opens = opens.replace(hour=8, minute=30, tzinfo=PARIS)
    assert detail["group"]["reason"] == "closed" and detail["group"]["size"] == 3
    assert datetime.fromisoformat(detail["group"]["closes_at"]) == opens
    summaries = db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.SUMMARY)).all()
    assert sorted(summary.channel for summary in summaries) == ["email", "push"]
    assert {summary.next_attempt_at for summary in summaries} == {opens.astimezone(UTC)}

    assert queue_due_retries(ahead=opens - datetime.now(UTC) - timedelta(minutes=1)) == 0
    assert queue_due_retries(ahead=opens - datetime.now(UTC) + timedelta(minutes=1)) == 2
    drain_queue()
    assert mailed(smtp_server) == [
        ("camille@example.com", "3 alertes à Auchan La Rochelle pendant la fermeture")
    ]
    after = scrape(admin_client(channels_app))
    assert delta(before, after, "nootification_alerts_quieted_total", reason="closed") == 3
    assert delta(before, after, "nootification_messages_suppressed_total", reason="closed") == 6
    assert delta(before, after, "nootification_alert_groups_total", reason="closed") == 1


def test_a_closed_shop_sends_critical_alerts_to_its_off_hours_tier_who_may_claim_them(
    channels_app, smtp_server, shop
):
    close_today(channels_app, shop)
    answer = post_alert(channels_app, label="theft")
    drain_queue()
    assert answer["delivery_count"] == 2, "Dominique's push and email"
    assert [address for address, _subject in mailed(smtp_server)] == ["dominique@example.com"]
    dominique = db.session.scalars(sa.select(User).where(User.name == "Dominique")).one()
    claimed = user_client(channels_app, dominique).post(f"/alerts/{answer['alert_uuid']}/claim")
    assert claimed.status_code == 200, claimed.json


def test_opening_hours_hold_on_daylight_saving_days(channels_app, shop):
    hours = {day: [["08:30", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert (
        admin_client(channels_app).patch(f"/locations/{shop.name}", json={"opening_hours": hours}).status_code
        == 200
    )
    db.session.expire_all()
    for day in (datetime(2027, 3, 28), datetime(2027, 10, 31)):
        before_opening = day.replace(hour=8, minute=20, tzinfo=PARIS).astimezone(UTC)
        after_opening = day.replace(hour=8, minute=40, tzinfo=PARIS).astimezone(UTC)
        alert = Alert(location=shop, label="normal", severity=Severity.STANDARD, received_at=before_opening)
        audience = audience_of(alert)
        assert audience.closed and audience.held_until == day.replace(hour=8, minute=30, tzinfo=PARIS)
        alert.received_at = after_opening
        assert not audience_of(alert).closed


def hours_from_now(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def put_roster(app, shop, csv: str) -> dict:
    answer = admin_client(app).put(
        f"/locations/{shop.name}/roster", data=csv.encode(), headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.json
    return answer.json


def test_with_a_roster_only_the_people_on_shift_are_told(channels_app, smtp_server, shop):
    hugo = make_user(shop, level=Level.STANDARD, name="Hugo")
    answer = admin_client(channels_app).put(
        f"/users/{hugo.user_uuid}/contact-points/email", json={"address": "hugo@example.com"}
    )
    assert answer.status_code == 200
    put_roster(
        channels_app,
        shop,
        f"user,start,end\n{hugo.user_uuid},{hours_from_now(-1)},{hours_from_now(1)}\n"
        f"camille@example.com,{hours_from_now(2)},{hours_from_now(3)}\n",
    )
    post_alert(channels_app, label="theft")
    drain_queue()
    assert [address for address, _subject in mailed(smtp_server)] == ["hugo@example.com"]


def test_a_roster_with_nobody_on_shift_sends_thefts_to_the_off_hours_tier_and_shows_it(
    channels_app, smtp_server, shop
):
    put_roster(
        channels_app, shop, f"user,start,end\ncamille@example.com,{hours_from_now(2)},{hours_from_now(3)}\n"
    )
    client = admin_client(channels_app)
    before = scrape(client)
    assert before[("nootification_locations_uncovered", frozenset())] == 1
    theft = post_alert(channels_app, label="theft")
    suspicious = post_alert(channels_app, label="suspicious")
    drain_queue()
    assert theft["delivery_count"] == 2 and suspicious["delivery_count"] == 0
    assert [address for address, _subject in mailed(smtp_server)] == ["dominique@example.com"]
    assert delta(before, scrape(client), "nootification_alerts_quieted_total", reason="uncovered") == 1
    assert client.delete(f"/locations/{shop.name}/roster").status_code == 204
    assert scrape(client)[("nootification_locations_uncovered", frozenset())] == 0


def test_without_an_off_hours_tier_a_closed_shops_theft_reaches_everyone_attached(
    channels_app, smtp_server, shop
):
    assert (
        admin_client(channels_app).patch(f"/locations/{shop.name}", json={"off_hours_tier": []}).status_code
        == 200
    )
    close_today(channels_app, shop)
    assert post_alert(channels_app, label="theft")["delivery_count"] == 2
    drain_queue()
    assert [address for address, _subject in mailed(smtp_server)] == ["camille@example.com"]
