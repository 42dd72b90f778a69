"""Logs: JSON lines with ids and outcome, and no token, secret, email address or phone number, ever."""

import io
import json
import logging
import uuid
from datetime import UTC, datetime

import pytest

from nootification.delivery.queue import delivery_queue
from nootification.delivery.queue.json_jobs import JOB_FORMAT
from nootification.models import Level
from nootification.observability.logs import ContextFilter, JsonFormatter, TextFormatter, log_context, mask
from nootification.services.staff_links import link_token
from nootification.services.tokens import ADMIN, ALERTS_WRITE, create_token
from tests.helpers.factories import alert_payload, make_location, make_user


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer noot_abcdefghijklmnop", "noot_abcdefghijklmnop"),
        ("token noot_Zx81-abcdefghijk in a message", "noot_Zx81-abcdefghijk"),
        ("slack xoxb-1111-2222-secret", "xoxb-1111-2222-secret"),
        ("secret whsec_c2VjcmV0LXNlY3JldA==", "whsec_c2VjcmV0LXNlY3JldA=="),
        ("GET /bot123456789:AAH-secret_token_value/sendMessage", "AAH-secret_token_value"),
        ("mail to camille.dupont+shop@example.co.uk failed", "camille.dupont+shop@example.co.uk"),
        ("sms to +33612345678 refused", "+33612345678"),
        (
            '{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n-----END PRIVATE KEY-----\n"}',
            "MIIEvQIBADAN",
        ),
        ("Bearer-less ya29.stub-a1B2c3D4e5 refused", "ya29.stub-a1B2c3D4e5"),
        ("vapid t=eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwcyJ9.c2lnbmF0dXJl, k=BDy3", "eyJhdWQiOiJodHRwcyJ9"),
    ],
)
def test_mask_hides_secrets_and_personal_data(text, hidden):
    masked = mask(text)
    assert hidden not in masked
    assert "[" in masked


def test_mask_leaves_ordinary_text_alone():
    text = "delivery 2c277697-d7a9-47ab-b11b-4f6ddc12ca75 attempt 1/3: HTTP 500 at 12:31 for 3 users"
    assert mask(text) == text


def capture(formatter: logging.Formatter) -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    return stream, handler


def test_json_lines_carry_ids_context_and_outcome():
    stream, handler = capture(JsonFormatter())
    logger = logging.getLogger("nootification.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_context(alert_uuid="a-1", delivery_id="d-1"):
            logger.info("sent to %s", "camille@example.com", extra={"outcome": "sent"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["level"] == "INFO"
    assert line["logger"] == "nootification.test"
    assert (line["alert_uuid"], line["delivery_id"], line["outcome"]) == ("a-1", "d-1", "sent")
    assert (line["request_id"], line["job_id"]) == ("-", "-")
    assert line["message"] == "sent to [email]"


def test_text_format_is_masked_too():
    stream, handler = capture(TextFormatter())
    logger = logging.getLogger("nootification.test")
    logger.addHandler(handler)
    try:
        logger.warning("token noot_abcdefghijklmnopqrst")
    finally:
        logger.removeHandler(handler)
    assert "noot_abcdefghijklmnopqrst" not in stream.getvalue()
    assert "[request=- job=-]" in stream.getvalue()


def test_a_bare_link_token_in_a_log_line_is_masked():
    token = link_token(str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC), "test-only-secret-key")
    stream, handler = capture(JsonFormatter())
    logger = logging.getLogger("nootification.test")
    logger.addHandler(handler)
    try:
        logger.warning("link %s refused; again as token=%s", token, token)
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert token not in stream.getvalue()
    assert line["message"] == "link [link] refused; again as token=[link]"


def test_a_full_run_logs_no_secret_or_personal_data(channels_app, smtp_server):
    """Tokens, addresses and numbers flow through the API, the worker and every channel; none is logged."""
    from rq import SimpleWorker

    from nootification.extensions import redis_queue

    stream, handler = capture(JsonFormatter())
    watched = [logging.getLogger(name) for name in ("nootification", "rq")]
    for logger in watched:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    admin = create_token(name="admin", scopes=[ADMIN]).token
    camera = create_token(name="camera", scopes=[ALERTS_WRITE]).token
    secrets = [admin, camera, "xoxb-1111-2222-secret", "AAH-secret_token_value", "twilio-auth-secret-42"]
    personal = ["camille@example.com", "+33612345678", "C0123456789"]
    try:
        client = channels_app.test_client()
        shop = make_location()
        user = make_user(shop, level=Level.STANDARD, name="Camille")
        headers = {"Authorization": f"Bearer {admin}"}
        for channel, address in [("email", personal[0]), ("sms", personal[1]), ("slack", personal[2])]:
            client.put(
                f"/users/{user.user_uuid}/contact-points/{channel}",
                json={"address": address},
                headers=headers,
            )
        client.put(
            f"/users/{user.user_uuid}/contact-points/telegram", json={"address": "-100123"}, headers=headers
        )
        smtp_server.control(fail_next=1, fail_next_status=500)
        client.post("/webhooks/alerts", json=alert_payload(), headers={"Authorization": f"Bearer {camera}"})
        client.get("/users", headers={"Authorization": "Bearer noot_not-a-real-token-at-all"})
        SimpleWorker([delivery_queue()], connection=redis_queue.connection, **JOB_FORMAT).work(burst=True)
    finally:
        for logger in watched:
            logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "attempt" in logged and '"outcome": "sent"' in logged  # the run did log
    for value in secrets + personal + ["noot_not-a-real-token-at-all"]:
        assert value not in logged, value
