"""Twilio's callbacks: only requests Twilio signed are heard, and an SMS's status lands on its attempt.

Signatures are made by Twilio's own Python helper library (`twilio.request_validator`), not by our code.
"""

import base64
import hmac
import time

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from nootification.extensions import db
from nootification.models import Delivery, DeliveryAttempt, Level
from nootification.senders.twilio.signature import signature
from nootification.services.ops import recent_alerts
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.metrics import delta, scrape
from tests.helpers.processes import drain_queue

AUTH_TOKEN = "twilio-auth-secret-42"  # channels_app's TWILIO_AUTH_TOKEN
# Where Twilio is told to call back in most tests: a loopback port nobody serves, so the stub's own
# callbacks find nobody (and go nowhere else); the tests post theirs with the test client.
PUBLIC_URL = "http://127.0.0.1:9"
STATUS_PATH = "/webhooks/twilio/sms-status"
NUMBER = "+33612345678"


def sms_sent(channels_app, smtp_server, public_url: str = PUBLIC_URL) -> Delivery:
    """Send a theft alert by SMS to one member of staff through the engine; its delivery."""
    channels_app.config["PUBLIC_URL"] = public_url
    client = admin_client(channels_app)
    user = make_user(make_location(), level=Level.STANDARD, name="Camille")
    point = {"address": NUMBER}
    assert client.put(f"/users/{user.user_uuid}/contact-points/sms", json=point).status_code == 200
    assert client.post("/webhooks/alerts", json=alert_payload(label="theft")).status_code == 201
    drain_queue()
    return db.session.scalars(sa.select(Delivery).where(Delivery.channel == "sms")).one()


@pytest.fixture
def sms(channels_app, smtp_server) -> Delivery:
    """An SMS sent, whose own status callbacks find nobody at PUBLIC_URL (a test posts its own)."""
    return sms_sent(channels_app, smtp_server)


def status_form(sid: str, status: str, **extra: str) -> dict:
    """The form Twilio posts to a StatusCallback."""
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": "+15005550006",
        "To": NUMBER,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def post_status(app, form: dict, *, token: str = AUTH_TOKEN, url: str | None = None, headers=None):
    """POST a status callback signed by Twilio's library over `url` (the public one by default)."""
    signed = RequestValidator(token).compute_signature(url or PUBLIC_URL + STATUS_PATH, form)
    sent_headers = {"X-Twilio-Signature": signed} if headers is None else headers
    return app.test_client().post(STATUS_PATH, data=form, headers=sent_headers)


def attempt_of(delivery_id: str) -> DeliveryAttempt:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
    ).one()


def test_the_sms_attempt_keeps_twilios_message_sid(sms):
    attempt = attempt_of(sms.id)
    assert attempt.provider_ref.startswith("SM") and len(attempt.provider_ref) == 34
    int(attempt.provider_ref[2:], 16)


def test_a_delivered_status_signed_by_twilio_is_kept_on_the_attempt(channels_app, sms):
    sid = attempt_of(sms.id).provider_ref
    client = admin_client(channels_app)
    before = scrape(client)

    answer = post_status(channels_app, status_form(sid, "delivered"))

    assert answer.status_code == 204, answer.json
    attempt = attempt_of(sms.id)
    assert (attempt.provider_status, attempt.provider_error_code) == ("delivered", None)
    assert attempt.provider_status_at is not None
    assert db.session.get(Delivery, sms.id).delivered_at is not None
    assert delta(before, scrape(client), "nootification_sms_status_receipts_total", status="delivered") == 1
    detail = client.get(f"/deliveries/{sms.id}").json
    assert detail["provider_status"] == "delivered" and detail["delivered_at"] is not None
    assert detail["attempt_log"][0]["provider_status"] == "delivered"
    alert = client.get(f"/alerts/{detail['alert_uuid']}").json
    [listed] = [d for d in alert["deliveries"] if d["id"] == sms.id]
    assert listed["provider_status"] == "delivered"
    [shown] = [d for d in recent_alerts(limit=5)[0].deliveries if d.id == sms.id]
    assert (shown.provider_status, shown.provider_error_code) == ("delivered", None)


def test_undelivered_keeps_its_error_code_once_and_does_not_mark_the_sms_arrived(channels_app, sms):
    sid = attempt_of(sms.id).provider_ref
    client = admin_client(channels_app)
    before = scrape(client)

    assert post_status(channels_app, status_form(sid, "undelivered", ErrorCode="30003")).status_code == 204
    # Kept once: a later or repeated final status changes nothing.
    assert post_status(channels_app, status_form(sid, "delivered")).status_code == 204

    attempt = attempt_of(sms.id)
    assert (attempt.provider_status, attempt.provider_error_code) == ("undelivered", "30003")
    assert db.session.get(Delivery, sms.id).delivered_at is None
    after = scrape(client)
    assert delta(before, after, "nootification_sms_status_receipts_total", status="undelivered") == 1
    assert delta(before, after, "nootification_sms_status_receipts_total", status="delivered") == 0
    detail = client.get(f"/deliveries/{sms.id}").json
    assert (detail["provider_status"], detail["provider_error_code"]) == ("undelivered", "30003")


@pytest.mark.parametrize("status", ["queued", "sending", "sent", "accepted"])
def test_a_status_on_the_way_answers_204_and_changes_nothing(channels_app, sms, status):
    sid = attempt_of(sms.id).provider_ref

    assert post_status(channels_app, status_form(sid, status)).status_code == 204

    assert attempt_of(sms.id).provider_status is None


def test_an_unknown_message_sid_answers_204_and_is_counted(channels_app, sms):
    client = admin_client(channels_app)
    before = scrape(client)

    answer = post_status(channels_app, status_form("SM" + "0" * 32, "delivered"))

    assert answer.status_code == 204
    assert attempt_of(sms.id).provider_status is None
    assert delta(before, scrape(client), "nootification_sms_status_unmatched_total") == 1


def _forged(form: dict) -> dict:
    return {"X-Twilio-Signature": base64.b64encode(b"0" * 20).decode()}


def _over_other_fields(form: dict) -> dict:
    other = {**form, "MessageStatus": "sent", "SmsStatus": "sent"}
    return {
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + STATUS_PATH, other)
    }


def _without_header(form: dict) -> dict:
    return {}


def _over_another_url(form: dict) -> dict:
    url = "https://elsewhere.example.com" + STATUS_PATH
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


def _with_another_token(form: dict) -> dict:
    url = PUBLIC_URL + STATUS_PATH
    return {"X-Twilio-Signature": RequestValidator("another-token").compute_signature(url, form)}


@pytest.mark.parametrize(
    "headers",
    [_forged, _over_other_fields, _without_header, _over_another_url, _with_another_token],
    ids=["forged", "other-fields", "missing-header", "wrong-url", "other-token"],
)
def test_a_callback_twilio_did_not_sign_is_refused_and_changes_nothing(channels_app, sms, headers):
    sid = attempt_of(sms.id).provider_ref
    form = status_form(sid, "delivered")

    answer = post_status(channels_app, form, headers=headers(form))

    assert answer.status_code == 403
    assert answer.json["code"] == 403 and answer.json["status"] == "Forbidden"
    assert attempt_of(sms.id).provider_status is None
    assert db.session.get(Delivery, sms.id).delivered_at is None


def test_the_signature_is_compared_in_constant_time(channels_app, sms, monkeypatch):
    compared: list[tuple] = []
    compare = hmac.compare_digest

    def spy(given, expected):
        compared.append((given, expected))
        return compare(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    form = status_form(attempt_of(sms.id).provider_ref, "delivered")

    assert post_status(channels_app, form, headers=_forged(form)).status_code == 403
    assert len(compared) == 1


@pytest.mark.parametrize("missing", ["MessageSid", "MessageStatus"])
def test_a_signed_callback_without_its_sid_or_status_is_a_clear_422(channels_app, sms, missing):
    form = status_form(attempt_of(sms.id).provider_ref, "delivered")
    del form[missing]

    answer = post_status(channels_app, form)

    assert answer.status_code == 422
    assert list(answer.json["errors"]) == [missing]
    assert attempt_of(sms.id).provider_status is None


def test_the_query_string_is_part_of_the_signed_url(channels_app, sms):
    sid = attempt_of(sms.id).provider_ref
    form = status_form(sid, "delivered")
    url = f"{PUBLIC_URL}{STATUS_PATH}?shop=42"
    signed = RequestValidator(AUTH_TOKEN).compute_signature(url, form)

    refused = channels_app.test_client().post(STATUS_PATH, data=form, headers={"X-Twilio-Signature": signed})
    answer = channels_app.test_client().post(
        f"{STATUS_PATH}?shop=42", data=form, headers={"X-Twilio-Signature": signed}
    )

    assert (refused.status_code, answer.status_code) == (403, 204)
    assert attempt_of(sms.id).provider_status == "delivered"


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [("MessageStatus", "delivered"), ("Body", "Répondez 1 — ça va ?"), ("A", "")],
        [("To", "+33612345678"), ("To", "+33600000000"), ("Z", "1"), ("B", "2")],
    ],
    ids=["no-fields", "unicode", "repeated-names"],
)
def test_our_signature_is_twilios(fields):
    url = "https://alerts.example.com/webhooks/twilio/sms-status?x=1"
    params = {}
    for name, value in fields:
        params.setdefault(name, []).append(value)

    class Multi(dict):
        def getall(self, name):
            return self[name]

    assert signature(AUTH_TOKEN, url, fields) == RequestValidator(AUTH_TOKEN).compute_signature(
        url, Multi(params)
    )


def wait_for_status(delivery_id: str, timeout: float = 10.0) -> DeliveryAttempt:
    """The SMS's attempt once the stub's final status callback has been kept on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempt = attempt_of(delivery_id)
        if attempt.provider_status:
            return attempt
        time.sleep(0.05)
    raise AssertionError("no status callback was kept")


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        ({}, ("delivered", None)),
        ({"sms_undelivered_next": 1, "sms_error_code": 30005}, ("undelivered", "30005")),
        ({"sms_failed_next": 1}, ("failed", "30003")),
    ],
    ids=["delivered", "undelivered", "failed"],
)
def test_the_stub_plays_twilios_status_callbacks_end_to_end(
    channels_app, smtp_server, serve_app, control, expected
):
    smtp_server.control(sms_status_delay=0.2, **control)
    delivery = sms_sent(channels_app, smtp_server, public_url=serve_app(channels_app))

    attempt = wait_for_status(delivery.id)

    assert (attempt.provider_status, attempt.provider_error_code) == expected
    assert (db.session.get(Delivery, delivery.id).delivered_at is not None) == (expected[0] == "delivered")
    [received] = smtp_server.messages(channel="sms")["messages"]
    assert received["payload"]["StatusCallback"].endswith(STATUS_PATH)
    tallies = smtp_server.control()["counters"]
    assert tallies.get("twilio_status_sent_204") == 1
