"""Native push as phones and the push services do it: VAPID keys, browser subscriptions, FCM accounts."""

import os

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nootification.senders.webpush import b64url_encode
from third_party import make_fcm_service_account


def new_vapid_key() -> tuple[str, str]:
    """A VAPID key pair as the server keeps it: (private key, base64url raw; public key, base64url point)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return private, b64url_encode(public)


def browser_subscription(endpoint: str = "https://fcm.googleapis.com/fcm/send/abc123") -> dict:
    """What `PushSubscription.toJSON()` gives: the endpoint and the browser's keys."""
    _, p256dh = new_vapid_key()
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": p256dh, "auth": b64url_encode(os.urandom(16))},
    }


def subscribe(stub_url: str, application_server_key: str) -> dict:
    """Subscribe at the stub's push service as a browser would, with a key pair the test made."""
    private, _ = new_vapid_key()
    body = {
        "application_server_key": application_server_key,
        "private_key": private,
        "auth": b64url_encode(os.urandom(16)),
    }
    answer = requests.post(f"{stub_url}/webpush/subscriptions", json=body, timeout=5)
    assert answer.status_code == 201, answer.text
    return answer.json()


def registered_account(stub_url: str) -> dict:
    """A new service account whose public key the stub's FCM trusts; its key file, as the secret holds it."""
    key_file, registration = make_fcm_service_account(f"{stub_url}/fcm/token")
    assert requests.post(f"{stub_url}/fcm/service-accounts", json=registration, timeout=5).status_code == 201
    return key_file


def put_point(admin, user, channel: str, address: str, **options) -> None:
    """Save a user's contact point on a channel through the admin API."""
    answer = admin.put(
        f"/users/{user.user_uuid}/contact-points/{channel}", json={"address": address, "options": options}
    )
    assert answer.status_code == 200, answer.json
