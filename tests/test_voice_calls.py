"""Alert calls end to end: the engine places them at the stub's Twilio, key 1 claims, a call nobody took is
placed again while the alert is unclaimed, a number whose calls keep failing is paused.

Twilio's callbacks are posted signed by Twilio's own helper library (tests/helpers/voice.py), or by the stub
playing Twilio (`/press/twilio/voice`, its status callbacks) where a served app can be reached.
"""

import time
import zoneinfo
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import requests
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryAttempt, DeliveryStatus, Level, VoicePause
from nootification.services.ops import recent_alerts
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.metrics import delta, scrape
from tests.helpers.processes import drain_queue, queue_due_retries
from tests.helpers.voice import (
    AUTH_TOKEN,
    GATHER_PATH,
    STATUS_PATH,
    call_form,
    call_status,
    press,
    signed_post,
)

# A loopback port nobody serves: the stub's own status callbacks find nobody; the tests post theirs.
PUBLIC_URL = "http://127.0.0.1:9"
CAMILLE, HUGO = "+33612345678", "+33698765432"


def set_up_shop(app, *, public_url: str = PUBLIC_URL, **settings) -> dict:
    """A French shop that takes follow-ups; Camille and Hugo on voice and SMS; thefts routed to both."""
    app.config.update(PUBLIC_URL=public_url, **settings)
    client = admin_client(app)
    location = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris", claim_follow_up=True)
    for name, phone in (("Camille", CAMILLE), ("Hugo", HUGO)):
        user = make_user(location, level=Level.STANDARD, name=name, locale="fr")
        for channel in ("voice", "sms"):
            answer = client.put(f"/users/{user.user_uuid}/contact-points/{channel}", json={"address": phone})
            assert answer.status_code == 200, answer.json
    assert client.post("/routes", json={"label": "theft", "channels": ["voice", "sms"]}).status_code == 201
    return location


def send_theft(app) -> dict:
    payload = alert_payload(label="theft")
    assert admin_client(app).post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    return payload


@pytest.fixture
def shop(channels_app, smtp_server):
    """The shop, one theft sent: two calls placed, two SMS sent."""
    set_up_shop(channels_app)
    payload = send_theft(channels_app)
    assert len(calls(smtp_server)) == 2
    return payload


def calls(stub, number: str | None = None) -> list[dict]:
    return [m for m in stub.messages(channel="voice")["messages"] if number in (None, m["address"])]


def voice_delivery(number: str = CAMILLE) -> Delivery:
    db.session.expire_all()
    name = "Camille" if number == CAMILLE else "Hugo"
    return next(
        d
        for d in db.session.scalars(sa.select(Delivery).where(Delivery.channel == "voice"))
        if d.user.name == name
    )


def call_sids(delivery_id: str) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(DeliveryAttempt.provider_ref)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.number)
        )
    )


def alert_of(alert_uuid: str) -> Alert:
    db.session.expire_all()
    return db.session.scalars(sa.select(Alert).where(Alert.alert_uuid == alert_uuid)).one()


def twiml(answer) -> ElementTree.Element:
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/xml"
    return ElementTree.fromstring(answer.get_data(as_text=True))


def said(document: ElementTree.Element) -> list[str]:
    return [say.text for say in document.iter("Say")]


def test_the_call_says_the_theft_in_french_with_the_shops_time_and_asks_for_key_1(
    channels_app, smtp_server, shop
):
    [call] = calls(smtp_server, CAMILLE)
    delivery = voice_delivery()

    document = ElementTree.fromstring(call["text"])

    gather = document.find("Gather")
    assert gather.get("action") == f"{PUBLIC_URL}{GATHER_PATH}?delivery={delivery.id}"
    spotted = datetime.fromtimestamp(shop["time_spotted"], UTC).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    [text] = said(gather)
    assert text == (
        f"Vol repéré à Auchan La Rochelle à {spotted:%H:%M} (critique). Appuyez sur 1 si vous y allez."
    )
    assert gather.find("Say").get("language") == "fr-FR"
    assert call_sids(delivery.id) == [call["sid"]]
    assert delivery.status is DeliveryStatus.SENT


def test_key_1_claims_the_alert_as_that_person_and_the_others_are_told(channels_app, smtp_server, shop):
    before = scrape(admin_client(channels_app))

    document = twiml(press(channels_app, voice_delivery().id, "1"))

    assert said(document) == ["C'est noté, vous y allez. Au revoir."]
    assert document.find("Hangup") is not None
    assert alert_of(shop["alert_uuid"]).claimed_by.name == "Camille"
    drain_queue()
    told = [m["text"] for m in smtp_server.messages(channel="sms")["messages"] if m["address"] == HUGO][1:]
    assert len(told) == 1 and "Camille" in told[0]
    after = scrape(admin_client(channels_app))
    assert delta(before, after, "nootification_voice_keys_total", result="claimed") == 1


def test_key_1_from_the_other_says_who_is_on_it(channels_app, shop):
    press(channels_app, voice_delivery(CAMILLE).id, "1")

    document = twiml(press(channels_app, voice_delivery(HUGO).id, "1"))

    assert said(document) == ["Camille s'en occupe déjà. Au revoir."]
    assert alert_of(shop["alert_uuid"]).claimed_by.name == "Camille"


@pytest.mark.parametrize("first", ["7", None], ids=["wrong-key", "silence"])
def test_a_wrong_key_or_silence_says_it_once_more_then_goodbye(channels_app, shop, first):
    delivery_id = voice_delivery().id
    before = scrape(admin_client(channels_app))

    again = twiml(press(channels_app, delivery_id, first))
    then = twiml(press(channels_app, delivery_id, None, repeat=True))

    gather = again.find("Gather")
    assert gather.get("action") == f"{PUBLIC_URL}{GATHER_PATH}?delivery={delivery_id}&repeat=1"
    assert said(gather)[0].startswith("Je répète. Vol repéré à Auchan La Rochelle")
    assert said(then) == ["Au revoir."] and then.find("Hangup") is not None
    assert alert_of(shop["alert_uuid"]).claimed_by_id is None
    after = scrape(admin_client(channels_app))
    assert delta(before, after, "nootification_voice_keys_total", result="repeat") == 1
    assert delta(before, after, "nootification_voice_keys_total", result="goodbye") == 1


def test_key_1_on_the_repeat_claims_too(channels_app, shop):
    delivery_id = voice_delivery().id
    press(channels_app, delivery_id, "9")

    document = twiml(press(channels_app, delivery_id, "1", repeat=True))

    assert said(document) == ["C'est noté, vous y allez. Au revoir."]
    assert alert_of(shop["alert_uuid"]).claimed_by.name == "Camille"


def test_a_key_for_an_unknown_delivery_hangs_up_and_is_counted(channels_app, shop):
    before = scrape(admin_client(channels_app))

    document = twiml(press(channels_app, "no-such-delivery", "1"))

    assert document.find("Hangup") is not None
    assert alert_of(shop["alert_uuid"]).claimed_by_id is None
    assert (
        delta(before, scrape(admin_client(channels_app)), "nootification_voice_keys_total", result="unknown")
        == 1
    )


def test_a_completed_call_is_kept_on_its_attempt_and_shown_where_sms_statuses_show(channels_app, shop):
    delivery = voice_delivery()
    [sid] = call_sids(delivery.id)
    client = admin_client(channels_app)
    before = scrape(client)

    assert call_status(channels_app, sid, "completed", CallDuration="12").status_code == 204

    assert delta(before, scrape(client), "nootification_voice_calls_total", status="completed") == 1
    detail = client.get(f"/deliveries/{delivery.id}").json
    assert detail["provider_status"] == "completed" and detail["delivered_at"] is not None
    assert detail["attempt_log"][0]["provider_status"] == "completed"
    [listed] = [
        d for d in client.get(f"/alerts/{shop['alert_uuid']}").json["deliveries"] if d["id"] == delivery.id
    ]
    assert listed["provider_status"] == "completed"
    [shown] = [d for d in recent_alerts(limit=5)[0].deliveries if d.id == delivery.id]
    assert shown.provider_status == "completed"
    assert voice_delivery().status is DeliveryStatus.SENT


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_a_call_nobody_took_is_placed_again_after_the_pause_through_the_engine(
    channels_app, smtp_server, shop, status
):
    delivery = voice_delivery()
    [sid] = call_sids(delivery.id)
    started = datetime.now(UTC)

    assert call_status(channels_app, sid, status, ErrorCode="31005").status_code == 204

    again = voice_delivery()
    assert again.status is DeliveryStatus.SCHEDULED
    wait = again.next_attempt_at - started
    assert timedelta(seconds=55) < wait < timedelta(seconds=65)  # VOICE_RETRY_SECONDS: 60 by default
    assert queue_due_retries(ahead=timedelta(seconds=0)) == 0  # not before its time
    assert queue_due_retries() == 1
    drain_queue()
    assert len(calls(smtp_server, CAMILLE)) == 2
    sids = call_sids(delivery.id)
    assert len(sids) == 2 and sids[0] == sid and sids[1] != sid
    assert voice_delivery().status is DeliveryStatus.SENT
    assert len(calls(smtp_server, HUGO)) == 1


def test_at_most_voice_max_tries_calls_in_all(channels_app, smtp_server, shop):
    channels_app.config["VOICE_MAX_TRIES"] = 2
    delivery_id = voice_delivery().id
    call_status(channels_app, call_sids(delivery_id)[0], "no-answer")
    queue_due_retries()
    drain_queue()

    assert call_status(channels_app, call_sids(delivery_id)[1], "no-answer").status_code == 204

    assert voice_delivery().status is DeliveryStatus.SENT
    assert queue_due_retries() == 0
    assert len(calls(smtp_server, CAMILLE)) == 2


def test_no_call_again_once_the_alert_is_claimed(channels_app, smtp_server, shop):
    press(channels_app, voice_delivery(HUGO).id, "1")

    call_status(channels_app, call_sids(voice_delivery().id)[0], "no-answer")

    assert voice_delivery().status is DeliveryStatus.SENT
    assert queue_due_retries() == 0


def test_a_repeated_status_acts_once(channels_app, smtp_server, shop):
    delivery_id = voice_delivery().id
    [sid] = call_sids(delivery_id)
    call_status(channels_app, sid, "no-answer")
    queue_due_retries()
    drain_queue()

    assert call_status(channels_app, sid, "no-answer").status_code == 204

    assert voice_delivery().status is DeliveryStatus.SENT
    assert queue_due_retries() == 0


def test_a_call_again_is_not_placed_once_someone_claimed_meanwhile(channels_app, smtp_server, shop):
    call_status(channels_app, call_sids(voice_delivery().id)[0], "no-answer")
    press(channels_app, voice_delivery(HUGO).id, "1")

    queue_due_retries()
    drain_queue()

    assert len(calls(smtp_server, CAMILLE)) == 1
    assert voice_delivery().status is DeliveryStatus.CANCELLED


def test_a_number_whose_calls_keep_failing_is_paused(channels_app, smtp_server, shop):
    channels_app.config.update(VOICE_PAUSE_AFTER_FAILURES=2, VOICE_PAUSE_SECONDS=600)
    client = admin_client(channels_app)
    before = scrape(client)
    delivery_id = voice_delivery().id
    call_status(channels_app, call_sids(delivery_id)[0], "failed", ErrorCode="32009")
    queue_due_retries()
    drain_queue()

    call_status(channels_app, call_sids(delivery_id)[1], "failed", ErrorCode="32009")

    assert voice_delivery().status is DeliveryStatus.SENT  # no third call
    assert queue_due_retries() == 0
    pause = db.session.get(VoicePause, CAMILLE)
    assert pause.paused_until > datetime.now(UTC) + timedelta(seconds=590)
    assert delta(before, scrape(client), "nootification_voice_numbers_paused_total") == 1
    # A new alert calls Hugo, not the paused number.
    later = send_theft(channels_app)
    [paused] = [
        d
        for d in alert_of(later["alert_uuid"]).deliveries
        if d.channel == "voice" and d.user.name == "Camille"
    ]
    assert paused.status is DeliveryStatus.FAILED and "paused" in paused.last_error
    assert len(calls(smtp_server, CAMILLE)) == 2 and len(calls(smtp_server, HUGO)) == 2


def test_a_call_that_rang_starts_the_count_of_failures_again(channels_app, shop):
    channels_app.config.update(VOICE_PAUSE_AFTER_FAILURES=2)
    delivery_id = voice_delivery().id
    call_status(channels_app, call_sids(delivery_id)[0], "failed")
    queue_due_retries()
    drain_queue()

    assert db.session.get(VoicePause, CAMILLE).failed_in_row == 1

    call_status(channels_app, call_sids(delivery_id)[1], "busy")

    db.session.expire_all()
    assert db.session.get(VoicePause, CAMILLE) is None  # the number works: nothing kept of it
    assert voice_delivery().status is DeliveryStatus.SCHEDULED


def test_erasing_a_person_forgets_their_numbers_failed_calls(channels_app, shop):
    call_status(channels_app, call_sids(voice_delivery().id)[0], "failed")
    camille = voice_delivery().user
    assert db.session.get(VoicePause, CAMILLE) is not None

    assert admin_client(channels_app).post(f"/users/{camille.user_uuid}/erase").status_code == 200

    db.session.expire_all()
    assert db.session.get(VoicePause, CAMILLE) is None
    assert db.session.get(VoicePause, HUGO) is None


def _forged(path: str, form: dict) -> dict:
    return {"X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}


def _without_header(path: str, form: dict) -> dict:
    return {}


def _over_another_url(path: str, form: dict) -> dict:
    url = "https://elsewhere.example.com" + path
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


def _over_another_query(path: str, form: dict) -> dict:
    # A key pressed on another call (another delivery) cannot be replayed on this one.
    url = PUBLIC_URL + path + ("&" if "?" in path else "?") + "delivery=another"
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


def _with_another_token(path: str, form: dict) -> dict:
    return {"X-Twilio-Signature": RequestValidator("another").compute_signature(PUBLIC_URL + path, form)}


@pytest.mark.parametrize(
    "headers",
    [_forged, _without_header, _over_another_url, _over_another_query, _with_another_token],
    ids=["forged", "missing-header", "other-url", "other-query", "other-token"],
)
def test_voice_callbacks_twilio_did_not_sign_are_refused_and_change_nothing(channels_app, shop, headers):
    delivery_id = voice_delivery().id
    [sid] = call_sids(delivery_id)
    key_path = f"{GATHER_PATH}?delivery={delivery_id}"
    key_form = call_form(sid, "in-progress", Digits="1")
    status_form = call_form(sid, "no-answer")

    refused = [
        signed_post(channels_app, key_path, key_form, headers=headers(key_path, key_form)),
        signed_post(channels_app, STATUS_PATH, status_form, headers=headers(STATUS_PATH, status_form)),
    ]

    assert [answer.status_code for answer in refused] == [403, 403]
    assert all(answer.json["status"] == "Forbidden" for answer in refused)
    assert alert_of(shop["alert_uuid"]).claimed_by_id is None
    delivery = voice_delivery()
    assert delivery.status is DeliveryStatus.SENT and delivery.provider_status is None


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        (GATHER_PATH, call_form("CA1", "in-progress", Digits="1"), "delivery"),
        (STATUS_PATH, {"CallStatus": "completed"}, "CallSid"),
        (STATUS_PATH, {"CallSid": "CA1"}, "CallStatus"),
    ],
    ids=["no-delivery", "no-sid", "no-status"],
)
def test_a_signed_callback_missing_a_field_is_a_clear_422(channels_app, shop, path, form, field):
    answer = signed_post(channels_app, path, form)

    assert answer.status_code == 422
    assert list(answer.json["errors"]) == [field]


def test_an_unknown_call_sid_answers_204_and_is_counted(channels_app, shop):
    client = admin_client(channels_app)
    before = scrape(client)

    assert call_status(channels_app, "CA" + "0" * 32, "no-answer").status_code == 204

    assert delta(before, scrape(client), "nootification_voice_status_unmatched_total") == 1
    assert voice_delivery().status is DeliveryStatus.SENT


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_stub_plays_twilio_voice_end_to_end(channels_app, smtp_server, serve_app):
    """The stub's call ends no-answer (its signed callback places the call again), the second one is
    answered and the stub presses 1: the alert is Camille's."""
    set_up_shop(channels_app, public_url=serve_app(channels_app), VOICE_RETRY_SECONDS=0)
    smtp_server.control(voice_no_answer_next=1, voice_status_delay=0.1)
    payload = send_theft(channels_app)
    delivery_id = voice_delivery().id

    wait_for(lambda: voice_delivery().status is DeliveryStatus.SCHEDULED)
    assert queue_due_retries() == 1
    drain_queue()
    first, second = calls(smtp_server, CAMILLE)
    assert (first["status"], second["status"]) == ("no-answer", "completed")
    answer = requests.post(
        f"{smtp_server.url}/press/twilio/voice",
        json={"call_sid": second["sid"], "digits": "1", "auth_token": AUTH_TOKEN},
        timeout=10,
    )

    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
    assert said(ElementTree.fromstring(answer.text)) == ["C'est noté, vous y allez. Au revoir."]
    assert alert_of(payload["alert_uuid"]).claimed_by.name == "Camille"
    attempts = wait_for(
        lambda: (
            [
                a.provider_status
                for a in db.session.get(Delivery, delivery_id).attempt_log
                if a.provider_status
            ]
            == ["no-answer", "completed"]
        )
    )
    assert attempts
    tallies = smtp_server.control()["counters"]
    assert tallies.get("twilio_call_no-answer_204", 0) >= 1
