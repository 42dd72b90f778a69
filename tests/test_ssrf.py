"""Webhook addresses may not reach loopback, link-local or private networks unless configured."""

import pytest

from nootification.senders.base import PermanentSendError
from nootification.senders.webhook import WebhookSender
from nootification.ssrf import non_public_reason
from tests.helpers.config import make_config
from tests.helpers.factories import make_location, make_message, make_user

PRIVATE = [
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.10/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/hook",
    "https://[fd00::1]/hook",
    "https://0.0.0.0/hook",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_non_public_targets_are_named(url):
    assert non_public_reason(url) is not None


def test_a_public_address_passes():
    assert non_public_reason("https://93.184.215.14/hook") is None


@pytest.mark.parametrize("url", PRIVATE)
@pytest.mark.parametrize("channel", ["webhook", "teams"])
def test_saving_a_private_webhook_address_is_refused(client, strict, url, channel):
    user = make_user(make_location())
    response = client.put(f"/users/{user.user_uuid}/contact-points/{channel}", json={"address": url})
    assert response.status_code == 422
    assert "address" in response.json["errors"]


def test_a_public_webhook_address_is_accepted(client, strict):
    user = make_user(make_location())
    response = client.put(
        f"/users/{user.user_uuid}/contact-points/webhook", json={"address": "https://93.184.215.14/h"}
    )
    assert response.status_code == 200


def test_private_targets_can_be_allowed(client, app):
    user = make_user(make_location())
    response = client.put(
        f"/users/{user.user_uuid}/contact-points/webhook", json={"address": "https://127.0.0.1/h"}
    )
    assert response.status_code == 200


def test_the_sender_checks_again_at_send_time(monkeypatch):
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    sender = WebhookSender(make_config(ALLOW_PRIVATE_WEBHOOK_TARGETS=False))
    with pytest.raises(PermanentSendError, match="refused to call the address"):
        sender.send(make_message(address="https://127.0.0.1:9/hook"))
