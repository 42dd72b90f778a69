"""Signed alerts (Standard Webhooks): verified over the raw bytes, with rotation, tolerance and replays."""

import base64
import json
import time

import pytest

from tests.helpers.factories import alert_payload
from tests.helpers.signatures import PREVIOUS, alerts_stored, post, signed

OTHER = "whsec_" + base64.b64encode(b"someone-elses-secret-0123456789").decode()


def test_valid_signature_is_accepted(signed_app, anonymous):
    body = json.dumps(alert_payload()).encode()
    response = post(anonymous, body, signed(body))
    assert response.status_code == 201, response.json
    assert alerts_stored() == 1


def test_previous_secret_still_works_during_rotation(signed_app, anonymous):
    body = json.dumps(alert_payload()).encode()
    assert post(anonymous, body, signed(body, PREVIOUS)).status_code == 201


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong secret", "No matching signature"),
        ("stale", "too old"),
        ("future", "too new"),
        ("one byte altered", "No matching signature"),
        ("missing timestamp", "Missing required headers"),
        ("garbage signature", "Malformed"),
    ],
)
def test_bad_signatures_are_401_with_a_reason_and_nothing_stored(signed_app, anonymous, case, reason):
    body = json.dumps(alert_payload()).encode()
    headers = signed(body)
    if case == "wrong secret":
        headers = signed(body, OTHER)
    elif case == "stale":
        headers = signed(body, at=time.time() - 6 * 60)
    elif case == "future":
        headers = signed(body, at=time.time() + 6 * 60)
    elif case == "one byte altered":
        body = body.replace(b'"theft"', b'"thefT"')
    elif case == "missing timestamp":
        del headers["webhook-timestamp"]
    elif case == "garbage signature":
        headers["webhook-signature"] = "v1"
    response = post(anonymous, body, headers)
    assert response.status_code == 401
    assert reason.lower() in response.json["message"].lower()
    assert alerts_stored() == 0


def test_within_tolerance_is_accepted(signed_app, anonymous):
    body = json.dumps(alert_payload()).encode()
    assert post(anonymous, body, signed(body, at=time.time() - 4 * 60)).status_code == 201


def test_a_replayed_webhook_id_gets_the_original_answer_and_nothing_more(
    signed_app, anonymous, run_worker, stub
):
    payload = alert_payload()
    body = json.dumps(payload).encode()
    headers = signed(body)
    first = post(anonymous, body, headers)
    again = post(anonymous, body, headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    run_worker()
    assert stub.messages(payload["alert_uuid"])["raw_receipts"] == 1
    assert alerts_stored() == 1


def test_unsigned_alert_without_token_is_refused_in_production(signed_app, anonymous):
    response = anonymous.post("/webhooks/alerts", json=alert_payload())
    assert response.status_code == 401
    assert "signed" in response.json["message"]


def test_signature_without_configured_secrets_is_refused(app, anonymous, db):
    body = json.dumps(alert_payload()).encode()
    response = post(anonymous, body, signed(body))
    assert response.status_code == 401
    assert "not configured" in response.json["message"]
