"""Replies by SMS: staff answer an alert SMS with a digit; Twilio posts it signed; the engine answers.

The alert SMS go through the engine to the stub's Twilio; the replies are posted as Twilio posts them (signed
with the account's token, the signature checked against Twilio's own library); each answer SMS is an outbound
record the engine sends, seen at the stub.
"""

import pytest
import requests
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryKind, Level, Outcome, SmsReply
from tests.helpers.config import limited_app
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.metrics import delta, scrape
from tests.helpers.processes import drain_queue
from tests.helpers.twilio import AUTH_TOKEN, incoming_sms, post_incoming_sms

# A loopback port nobody serves: the stub's own status callbacks find nobody.
PUBLIC_URL = "http://127.0.0.1:9"
CAMILLE, HUGO, STRANGER = "+33612345678", "+33698765432", "+33700000000"


@pytest.fixture
def shop(channels_app, smtp_server):
    """A French shop that takes follow-ups, Camille and Hugo on SMS, thefts routed to SMS, one theft sent."""
    channels_app.config["PUBLIC_URL"] = PUBLIC_URL
    client = admin_client(channels_app)
    location = make_location(display_name="Auchan La Rochelle", claim_follow_up=True)
    for name, phone in (("Camille", CAMILLE), ("Hugo", HUGO)):
        user = make_user(location, level=Level.STANDARD, name=name, locale="fr")
        assert (
            client.put(f"/users/{user.user_uuid}/contact-points/sms", json={"address": phone}).status_code
            == 200
        )
    assert client.post("/routes", json={"label": "theft", "channels": ["sms"]}).status_code == 201
    payload = alert_payload(label="theft")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    assert len(sms_texts(smtp_server)) == 2
    return payload["alert_uuid"]


def sms_texts(stub) -> list[str]:
    return [message["text"] for message in stub.messages(channel="sms")["messages"]]


def texts_to(stub, number: str) -> list[str]:
    """The SMS sent to a number after the alert SMS of the fixture."""
    return [m["text"] for m in stub.messages(channel="sms")["messages"] if m["address"] == number][1:]


def alert_of(alert_uuid: str) -> Alert:
    db.session.expire_all()
    return db.session.scalars(sa.select(Alert).where(Alert.alert_uuid == alert_uuid)).one()


def reply(app, number: str, body: str, **kwargs):
    answer = post_incoming_sms(app, incoming_sms(number, body, **kwargs))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/xml" and answer.get_data(as_text=True).endswith("<Response/>")
    drain_queue()
    return answer


def test_reply_1_claims_the_alert_answers_once_and_tells_the_others(channels_app, smtp_server, shop):
    before = scrape(admin_client(channels_app))
    reply(channels_app, CAMILLE, " 1 ")

    alert = alert_of(shop)
    assert alert.claimed_by.name == "Camille"
    [confirmation] = texts_to(smtp_server, CAMILLE)
    assert confirmation.startswith("C'est noté, vous y allez : Auchan La Rochelle."), confirmation
    [told] = texts_to(smtp_server, HUGO)
    assert "Camille" in told
    answers = db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.SMS_ANSWER)).all()
    assert [a.status.value for a in answers] == ["sent"]
    assert (
        delta(before, scrape(admin_client(channels_app)), "nootification_sms_replies_total", result="claimed")
        == 1
    )


def test_an_outcome_reply_records_it_as_the_staff_page_would(channels_app, smtp_server, shop):
    reply(channels_app, HUGO, "4")

    alert = alert_of(shop)
    assert alert.outcome is Outcome.FALSE_ALARM
    assert alert.outcome_by.name == "Hugo" and alert.claimed_by.name == "Hugo"
    [history] = alert.outcome_history
    assert history.user.name == "Hugo"
    assert texts_to(smtp_server, HUGO) == ["Merci, c'est noté : fausse alerte (Auchan La Rochelle)."]


def test_a_strangers_reply_changes_nothing_and_is_not_answered(channels_app, smtp_server, shop):
    before = scrape(admin_client(channels_app))
    reply(channels_app, STRANGER, "1")

    assert alert_of(shop).claimed_by_id is None
    assert len(sms_texts(smtp_server)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SmsReply)) == 0
    assert (
        delta(
            before, scrape(admin_client(channels_app)), "nootification_sms_replies_total", result="stranger"
        )
        == 1
    )


def test_unknown_text_gets_one_help_sms_and_none_again_within_five_minutes(channels_app, smtp_server, shop):
    reply(channels_app, CAMILLE, "c'est qui ?")
    reply(channels_app, CAMILLE, "allo")

    [help_sms] = texts_to(smtp_server, CAMILLE)
    assert help_sms.startswith("Répondez 1 si vous y allez. Puis : 2 vol stoppé"), help_sms
    assert alert_of(shop).claimed_by_id is None
    results = db.session.scalars(sa.select(SmsReply.result).order_by(SmsReply.id)).all()
    assert results == ["help", "quiet"]


def test_the_same_message_sid_twice_acts_once(channels_app, smtp_server, shop):
    reply(channels_app, CAMILLE, "1", sid="SM" + "a" * 32)
    reply(channels_app, CAMILLE, "1", sid="SM" + "a" * 32)

    assert len(texts_to(smtp_server, CAMILLE)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SmsReply)) == 1


def test_an_unsigned_reply_is_refused_and_changes_nothing(channels_app, smtp_server, shop):
    answer = post_incoming_sms(channels_app, incoming_sms(CAMILLE, "1"), signed=False)
    drain_queue()

    assert answer.status_code == 403
    assert alert_of(shop).claimed_by_id is None
    assert len(sms_texts(smtp_server)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SmsReply)) == 0


def test_a_burst_from_twilio_is_not_refused_by_the_per_address_limit(channels_app, smtp_server, shop):
    app = limited_app(
        channels_app,
        RATELIMIT_DEFAULT="3 per 30 second",
        PUBLIC_URL=PUBLIC_URL,
        TWILIO_AUTH_TOKEN=channels_app.config.get("TWILIO_AUTH_TOKEN", "twilio-auth-secret-42"),
    )
    client = app.test_client()
    for _ in range(8):
        answer = post_incoming_sms(app, incoming_sms(STRANGER, "1"), client=client)
        assert answer.status_code == 200, answer.get_data(as_text=True)
    # The default still holds elsewhere, for the same address.
    codes = [client.get("/locations").status_code for _ in range(5)]
    assert 429 in codes


def test_a_second_reply_1_is_told_who_is_on_it_and_changes_nothing(channels_app, smtp_server, shop):
    reply(channels_app, CAMILLE, "1")
    reply(channels_app, HUGO, "1.")

    assert alert_of(shop).claimed_by.name == "Camille"
    assert texts_to(smtp_server, HUGO)[-1] == "Camille y va déjà : Auchan La Rochelle."


def test_a_signed_reply_without_its_sender_is_a_422_and_changes_nothing(channels_app, smtp_server, shop):
    form = incoming_sms(CAMILLE, "1")
    del form["From"]
    answer = post_incoming_sms(channels_app, form)

    assert answer.status_code == 422 and "From" in answer.json["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SmsReply)) == 0


def test_erasing_a_user_forgets_their_replies_and_the_number_they_came_from(channels_app, smtp_server, shop):
    reply(channels_app, CAMILLE, "1")
    camille = alert_of(shop).claimed_by

    assert admin_client(channels_app).post(f"/users/{camille.user_uuid}/erase").status_code == 200
    assert db.session.scalars(sa.select(SmsReply.from_number)).all() == []


def test_the_export_lists_the_persons_sms_replies(channels_app, smtp_server, shop):
    reply(channels_app, CAMILLE, "1")
    camille = alert_of(shop).claimed_by

    exported = admin_client(channels_app).get(f"/users/{camille.user_uuid}/export").json["sms_replies"]

    summary = [(item["from_number"], item["result"], item["alert_uuid"]) for item in exported]
    assert summary == [(CAMILLE, "claimed", shop)]


def test_the_stub_sends_the_service_an_sms_as_twilio_does(channels_app, smtp_server, serve_app, shop):
    channels_app.config["PUBLIC_URL"] = serve_app(channels_app)
    reply_url = channels_app.config["PUBLIC_URL"] + "/webhooks/twilio/sms"

    def send(token: str) -> requests.Response:
        form = {"url": reply_url, "from": CAMILLE, "body": "1", "auth_token": token}
        return requests.post(f"{smtp_server.url}/press/twilio/sms", json=form, timeout=10)

    forged = send("not-the-token")
    assert forged.status_code == 403 and alert_of(shop).claimed_by is None
    answer = send(AUTH_TOKEN)
    assert answer.status_code == 200 and answer.text.endswith("<Response/>")
    assert alert_of(shop).claimed_by.name == "Camille"
