"""The fallback ladder: a shop's critical alerts climb from one channel to the next while nobody acts.

Real components: the engine sends to the stub's providers (SMTP for email, Twilio for SMS, Telegram), the
later steps are scheduled rows the engine's own due-queueing takes, and the SMS status comes from the stub's
Twilio, signed, over HTTP.
"""

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nootification.delivery import ladder
from nootification.delivery.ladder import not_needed_now
from nootification.extensions import db
from nootification.models import Alert, Delivery, Level, User, utcnow
from nootification.services.staff_links import link_expiry, staff_link
from nootification.staff.escalation import escalate
from nootification.staff.receipts import ReceiptState, record_receipt
from tests.helpers.browser import chromium, devtools_page
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.metrics import delta, scrape
from tests.helpers.processes import drain_queue, queue_due_retries
from tests.helpers.staff import CLAIM_STATE

LADDER = [
    {"after_seconds": 0, "channels": ["email"]},
    {"after_seconds": 30, "channels": ["sms"]},
    {"after_seconds": 90, "channels": ["telegram"]},
]
ADDRESSES = {
    "Camille": {"email": "camille@example.com", "sms": "+33612345678", "telegram": "111111111"},
    "Hugo": {"email": "hugo@example.com", "sms": "+33698765432", "telegram": "222222222"},
}


@pytest.fixture
def shop(channels_app):
    """A shop with the ladder email -> SMS at 30 s -> Telegram at 90 s, and Camille and Hugo on all three."""
    channels_app.config["PUBLIC_URL"] = "http://127.0.0.1:9"
    client = admin_client(channels_app)
    location = make_location(display_name="Auchan La Rochelle")
    for name, points in ADDRESSES.items():
        user = make_user(location, level=Level.CRITICAL, name=name)
        for channel, address in points.items():
            answer = client.put(
                f"/users/{user.user_uuid}/contact-points/{channel}", json={"address": address}
            )
            assert answer.status_code == 200, answer.json
    answer = client.patch(f"/locations/{location.name}", json={"ladder": LADDER})
    assert answer.status_code == 200, answer.json
    return location


def post_theft(channels_app) -> Alert:
    """Post a critical alert to the shop and send what is due at once; the stored alert."""
    payload = alert_payload(label="theft")
    answer = admin_client(channels_app).post("/webhooks/alerts", json=payload)
    assert answer.status_code == 201, answer.json
    drain_queue()
    return db.session.scalars(sa.select(Alert).where(Alert.alert_uuid == payload["alert_uuid"])).one()


def steps_of(alert: Alert) -> dict[tuple[str, str], tuple[int, str]]:
    """Each (person, channel) of the alert: its ladder step and status."""
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(User.name, Delivery.channel, Delivery.ladder_step, Delivery.status)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.alert_id == alert.id, Delivery.kind == "alert")
    )
    return {(row.name, row.channel): (row.ladder_step, row.status.value) for row in rows}


def climb(seconds: float) -> int:
    """Let the ladder's time pass: queue the steps due within `seconds` from now and send them."""
    queued = queue_due_retries(ahead=timedelta(seconds=seconds))
    drain_queue()
    return queued


def received(stub, channel: str) -> list[str]:
    """The addresses the stub's provider of `channel` received a message for, in order."""
    return [message["address"] for message in stub.messages(channel=channel)["messages"]]


def user_named(name: str) -> User:
    return db.session.scalars(sa.select(User).where(User.name == name)).one()


def page_of(app, alert: Alert, user: User) -> str:
    """The path of the user's staff page for the alert."""
    expires = link_expiry(alert.received_at, alert.severity, app.config)
    url = staff_link(alert.alert_uuid, user.user_uuid, expires, app.config)
    return url.removeprefix(app.config["PUBLIC_URL"].rstrip("/"))


def test_the_ladder_is_stored_shown_and_refused_when_it_does_not_climb(channels_app, shop):
    client = admin_client(channels_app)
    assert client.get(f"/locations/{shop.name}").json["ladder"] == LADDER
    refused = {
        "first step later than 0 s": [{"after_seconds": 10, "channels": ["sms"]}],
        "steps out of order": [
            {"after_seconds": 0, "channels": ["email"]},
            {"after_seconds": 60, "channels": ["sms"]},
            {"after_seconds": 30, "channels": ["voice"]},
        ],
        "a channel twice": [
            {"after_seconds": 0, "channels": ["email", "sms"]},
            {"after_seconds": 30, "channels": ["sms"]},
        ],
        "an unknown channel": [{"after_seconds": 0, "channels": ["pigeon"]}],
        "the vendor's channel": [{"after_seconds": 0, "channels": ["vendor"]}],
        "a step after the alert went stale": [
            {"after_seconds": 0, "channels": ["email"]},
            {"after_seconds": 15 * 60, "channels": ["sms"]},
        ],
        "no channels": [{"after_seconds": 0, "channels": []}],
        "a negative wait": [{"after_seconds": -1, "channels": ["email"]}],
        "not a list": {"after_seconds": 0},
    }
    for why, refused_ladder in refused.items():
        answer = client.patch(f"/locations/{shop.name}", json={"ladder": refused_ladder})
        assert answer.status_code == 422, why
        assert "ladder" in str(answer.json), (why, answer.json)
    assert client.get(f"/locations/{shop.name}").json["ladder"] == LADDER, "a refused ladder changed nothing"
    assert client.patch(f"/locations/{shop.name}", json={"ladder": []}).json["ladder"] is None


def test_a_critical_alert_climbs_step_by_step_while_nobody_acts(channels_app, smtp_server, shop):
    before = scrape(admin_client(channels_app))
    alert = post_theft(channels_app)

    assert steps_of(alert) == {
        ("Camille", "email"): (0, "sent"),
        ("Hugo", "email"): (0, "sent"),
        ("Camille", "sms"): (1, "scheduled"),
        ("Hugo", "sms"): (1, "scheduled"),
        ("Camille", "telegram"): (2, "scheduled"),
        ("Hugo", "telegram"): (2, "scheduled"),
    }
    due = db.session.scalars(sa.select(Delivery.next_attempt_at).where(Delivery.channel == "sms")).all()
    assert due == [alert.received_at + timedelta(seconds=30)] * 2
    assert received(smtp_server, "sms") == []
    assert climb(10) == 0, "nothing is due before its time"

    assert climb(35) == 2
    assert sorted(received(smtp_server, "sms")) == ["+33612345678", "+33698765432"]
    assert received(smtp_server, "telegram") == []
    db.session.refresh(alert)
    assert alert.ladder_step == 1 and alert.ladder_step_at is not None

    assert climb(95) == 2
    assert sorted(received(smtp_server, "telegram")) == ["111111111", "222222222"]
    db.session.refresh(alert)
    assert alert.ladder_step == 2
    shown = admin_client(channels_app).get(f"/alerts/{alert.alert_uuid}").json
    assert shown["ladder_step"] == 2 and shown["ladder_step_at"]
    assert sorted(d["ladder_step"] for d in shown["deliveries"]) == [0, 0, 1, 1, 2, 2]
    after = scrape(admin_client(channels_app))
    assert delta(before, after, "nootification_ladder_steps_total", step="1") == 1
    assert delta(before, after, "nootification_ladder_last_step_unclaimed_total") == 1


def test_a_claim_cancels_every_step_still_to_come(channels_app, smtp_server, shop):
    alert = post_theft(channels_app)
    climb(35)
    page = page_of(channels_app, alert, user_named("Hugo"))
    assert channels_app.test_client().post(f"{page}/claim").status_code == 303

    assert climb(3600) == 0
    assert received(smtp_server, "telegram") == []
    steps = steps_of(alert)
    assert steps[("Camille", "telegram")] == (2, "cancelled")
    assert steps[("Hugo", "telegram")] == (2, "cancelled")
    assert steps[("Camille", "sms")] == (1, "sent"), "what went out stays as it was"


def test_whoever_opened_the_alert_gets_no_later_step_the_others_do(channels_app, smtp_server, shop):
    alert = post_theft(channels_app)
    camilles_email = db.session.scalars(
        sa.select(Delivery.id).where(
            Delivery.channel == "email", Delivery.user_id == user_named("Camille").id
        )
    ).one()
    record_receipt(camilles_email, ReceiptState.SEEN, user_uuid=user_named("Camille").user_uuid)

    climb(35)
    assert received(smtp_server, "sms") == ["+33698765432"]
    steps = steps_of(alert)
    assert steps[("Camille", "sms")] == (1, "cancelled")
    assert steps[("Camille", "telegram")] == (2, "cancelled")


def test_opening_the_staff_page_in_a_browser_stops_that_persons_ladder(channels_app, smtp_server, shop):
    alert = post_theft(channels_app)
    page = page_of(channels_app, alert, user_named("Hugo"))
    client = channels_app.test_client()
    assert client.get(page).status_code == 200
    assert steps_of(alert)[("Hugo", "sms")] == (1, "scheduled"), (
        "fetching the page (a link preview) is no opening"
    )

    assert client.post(f"{page}/opened").status_code == 204
    climb(35)
    assert received(smtp_server, "sms") == ["+33612345678"]
    assert steps_of(alert)[("Hugo", "sms")] == (1, "cancelled")
    assert client.post("/s/forged-link/opened").status_code == 404


def test_the_engine_checks_again_when_it_takes_a_step(channels_app, smtp_server, shop):
    # Someone acted between the step's queueing and its sending (here: written around the cancellation).
    alert = post_theft(channels_app)
    queue_due_retries(ahead=timedelta(seconds=35))
    db.session.execute(
        sa.update(Alert)
        .where(Alert.id == alert.id)
        .values(claimed_by_id=user_named("Hugo").id, claimed_at=utcnow())
    )
    db.session.commit()
    drain_queue()

    assert received(smtp_server, "sms") == []
    steps = steps_of(alert)
    assert steps[("Camille", "sms")] == (1, "cancelled") and steps[("Hugo", "sms")] == (1, "cancelled")
    last_error = db.session.scalars(sa.select(Delivery.last_error).where(Delivery.channel == "sms")).first()
    assert last_error == "not needed: someone is on the alert"


def test_a_standard_alert_ignores_the_ladder_and_follows_the_routes(channels_app, smtp_server, shop):
    camille = user_named("Camille")
    camille.level = Level.STANDARD
    db.session.commit()
    payload = alert_payload(label="suspicious")
    assert admin_client(channels_app).post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    statuses = db.session.execute(sa.select(Delivery.channel, Delivery.ladder_step, Delivery.status)).all()
    assert sorted((c, s, st.value) for c, s, st in statuses) == [
        ("email", 0, "sent"),
        ("push", 0, "sent"),  # a channel the ladder leaves out, as the routes do not
        ("sms", 0, "sent"),
        ("telegram", 0, "sent"),
    ]


def test_an_sms_the_provider_could_not_deliver_moves_the_person_up_at_once(
    channels_app, smtp_server, serve_app, shop
):
    channels_app.config["PUBLIC_URL"] = serve_app(channels_app)
    smtp_server.control(sms_status_delay=0.1, sms_undelivered_next=1, sms_error_code=30005)
    alert = post_theft(channels_app)
    climb(35)  # both SMS go; the stub reports the first one undelivered, signed, over HTTP

    deadline = time.monotonic() + 10
    while True:
        db.session.expire_all()
        moved = db.session.scalars(
            sa.select(User.name)
            .join(Delivery, Delivery.user_id == User.id)
            .where(Delivery.channel == "telegram", Delivery.next_attempt_at <= utcnow())
        ).all()
        if moved:
            break
        assert time.monotonic() < deadline, "the undelivered SMS did not bring the next step forward"
        time.sleep(0.05)
    [undelivered_to] = moved
    assert climb(0) == 1
    assert received(smtp_server, "telegram") == [ADDRESSES[undelivered_to]["telegram"]]
    assert steps_of(alert)[("Camille" if undelivered_to == "Hugo" else "Hugo", "telegram")] == (
        2,
        "scheduled",
    )


def test_an_escalation_tier_climbs_from_when_it_was_told(channels_app, smtp_server, shop):
    client = admin_client(channels_app)
    marc = make_user(level=Level.CRITICAL, name="Marc")
    answer = client.put(f"/users/{marc.user_uuid}/contact-points/sms", json={"address": "+33611111111"})
    assert answer.status_code == 200
    assert client.patch(f"/locations/{shop.name}", json={"escalation": [[marc.user_uuid]]}).status_code == 200
    alert = post_theft(channels_app)
    told_at = alert.received_at + timedelta(seconds=61)
    assert escalate(alert, told_at)
    [due] = db.session.scalars(
        sa.select(Delivery.next_attempt_at).where(Delivery.user_id == marc.id, Delivery.channel == "sms")
    ).all()
    assert due == told_at + timedelta(seconds=30)


def test_the_staff_page_opened_in_chromium_stops_that_persons_ladder(
    channels_app, smtp_server, serve_app, tmp_path, shop
):
    binary = chromium()
    channels_app.config["PUBLIC_URL"] = serve_app(channels_app)
    alert = post_theft(channels_app)
    page_url = channels_app.config["PUBLIC_URL"] + page_of(channels_app, alert, user_named("Hugo"))

    with devtools_page(binary, tmp_path / "profile") as page:
        page.call("Page.enable")
        page.call("Page.navigate", url=page_url)
        assert page.settled(CLAIM_STATE) == "Nobody is on it yet."
        deadline = time.monotonic() + 10
        while steps_of(alert)[("Hugo", "sms")] != (1, "cancelled"):
            assert time.monotonic() < deadline, "the page's script did not say it was opened"
            time.sleep(0.05)

    assert steps_of(alert)[("Camille", "sms")] == (1, "scheduled")


def test_a_later_step_is_not_tried_again_once_someone_acted_between_its_tries(
    channels_app, smtp_server, shop, monkeypatch
):
    alert = post_theft(channels_app)
    queue_due_retries(ahead=timedelta(seconds=35))
    alert_id, hugo_id = alert.id, user_named("Hugo").id  # read here: the spy runs in the slots' threads
    smtp_server.control(fail_next=2, fail_next_status=500)  # both SMS' first tries fail at Twilio
    asked = []

    def claimed_during_the_first_try(engine, delivery, rings: bool) -> str | None:
        # The slot asks before its second try: a colleague claimed the alert meanwhile.
        with engine.begin() as connection:
            connection.execute(
                sa.update(Alert.__table__)
                .where(Alert.__table__.c.id == alert_id)
                .values(claimed_by_id=hugo_id, claimed_at=utcnow())
            )
        asked.append(delivery.id)
        return not_needed_now(engine, delivery, rings)

    monkeypatch.setattr(ladder, "not_needed_now", claimed_during_the_first_try)
    drain_queue()

    assert received(smtp_server, "sms") == []
    steps = steps_of(alert)
    assert steps[("Camille", "sms")] == (1, "cancelled") and steps[("Hugo", "sms")] == (1, "cancelled")
    assert len(asked) == 2
