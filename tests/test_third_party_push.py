import base64
import json
import re
import stat
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import http_ece
import pytest
import requests
import urllib3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt, jwt
from google.auth.exceptions import RefreshError
from google.auth.transport.urllib3 import Request
from google.oauth2 import service_account
from py_vapid import Vapid02
from py_vapid import jwt as vapid_jwt
from werkzeug.http import HTTP_STATUS_CODES

from tests.helpers.stub import StartStub, StubClient
from third_party import (
    INVALID_FCM_TOKEN,
    MISMATCHED_FCM_TOKEN,
    SHORT_LIVED_GRANT,
    UNREGISTERED_FCM_TOKEN,
    create_stub_app,
    main,
    make_fcm_service_account,
)

TIMEOUT = 5
SUBJECT = "mailto:ops@example.com"
# The application server's VAPID key, and one no subscription knows.
SERVER_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
ALERT = {"alert_uuid": "alert-1", "title": "Theft", "body": "At the tills"}
# The largest plaintext whose aes128gcm body fits in 4096 bytes: 86 bytes of header, a delimiter and a tag.
LARGEST_PLAINTEXT = 4096 - 86 - 1 - 16

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
PROJECT = "shop-alerts"
FCM_MESSAGE = {
    "token": "device-1",
    "notification": {"title": "Theft", "body": "At the tills"},
    "data": {"alert_uuid": "alert-1", "url": "https://media.example.com/alert-1.mp4"},
    "android": {"priority": "HIGH", "ttl": "300s"},
    "apns": {"headers": {"apns-priority": "10"}},
}


def without_none(mapping: dict) -> dict:
    return {name: value for name, value in mapping.items() if value is not None}


def now() -> int:
    return int(time.time())


# --- Web Push ---


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def subscribe(stub_url: str, **body: str) -> requests.Response:
    body.setdefault("application_server_key", b64url(public_bytes(SERVER_KEY)))
    return requests.post(f"{stub_url}/webpush/subscriptions", json=body, timeout=TIMEOUT)


def encrypt(plaintext: bytes, keys: dict[str, str]) -> bytes:
    """What a sender does with a subscription's public keys: RFC 8291, from a fresh key pair."""
    return http_ece.encrypt(
        plaintext,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(keys["p256dh"]),
        auth_secret=b64url_decode(keys["auth"]),
        version="aes128gcm",
    )


@dataclass
class Push:
    """A push as a sender makes it; each refusal case changes one part of it."""

    subscription: dict
    plaintext: bytes = json.dumps(ALERT).encode()
    # Changes to the valid claims and headers; None leaves one out.
    claims: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    signer: ec.EllipticCurvePrivateKey = SERVER_KEY
    header_key: ec.EllipticCurvePrivateKey = SERVER_KEY
    expires_in: int = 600
    keys: dict | None = None  # the subscription's unless given
    body: bytes | None = None  # the plaintext encrypted unless given

    def send(self) -> requests.Response:
        endpoint = self.subscription["endpoint"]
        claims = {"sub": SUBJECT, "aud": origin(endpoint), "exp": now() + self.expires_in, **self.claims}
        token = vapid_jwt.sign(without_none(claims), self.signer)
        headers = {
            "TTL": "60",
            "Content-Encoding": "aes128gcm",
            "Authorization": f"vapid t={token}, k={b64url(public_bytes(self.header_key))}",
            **self.headers,
        }
        body = (
            self.body
            if self.body is not None
            else encrypt(self.plaintext, self.keys or self.subscription["keys"])
        )
        return requests.post(endpoint, data=body, headers=without_none(headers), timeout=TIMEOUT)


@pytest.fixture
def subscription(stub: StubClient) -> dict:
    response = subscribe(stub.url)
    assert response.status_code == 201
    return response.json()


def test_a_push_round_trip_records_exactly_the_plaintext(stub: StubClient) -> None:
    browser_key, auth = ec.generate_private_key(ec.SECP256R1()), b"0123456789abcdef"
    private_scalar = browser_key.private_numbers().private_value.to_bytes(32, "big")
    subscribed = subscribe(stub.url, private_key=b64url(private_scalar), auth=b64url(auth))
    subscription = subscribed.json()
    endpoint = subscription["endpoint"]
    plaintext = json.dumps(ALERT).encode()
    headers = {
        **Vapid02(SERVER_KEY).sign({"sub": SUBJECT, "aud": origin(endpoint)}),
        "TTL": "60",
        "Urgency": "high",
        "Topic": "alert-1",
        "Content-Encoding": "aes128gcm",
    }

    response = requests.post(
        endpoint, data=encrypt(plaintext, subscription["keys"]), headers=headers, timeout=TIMEOUT
    )

    assert subscribed.status_code == 201
    assert subscription == {
        "endpoint": subscription["endpoint"],
        "expirationTime": None,
        "keys": {"p256dh": b64url(public_bytes(browser_key)), "auth": b64url(auth)},
    }
    assert endpoint.startswith(f"{stub.url}/webpush/send/")
    assert (response.status_code, response.content) == (201, b"")
    assert response.headers["Location"].startswith(f"{endpoint}/messages/")
    [message] = stub.messages(alert_uuid="alert-1")["messages"]
    del message["received_at"]
    assert message == {
        "channel": "webpush",
        "address": endpoint.rsplit("/", 1)[1],
        "text": plaintext.decode(),
        "payload": ALERT,
        "alert_uuid": "alert-1",
        "ttl": 60,
        "urgency": "high",
        "topic": "alert-1",
        "sub": SUBJECT,
        "idempotency_key": None,
        "receipts": 1,
    }


def test_keys_not_given_are_generated_and_the_private_one_stays_in_the_stub(
    stub: StubClient, subscription: dict
) -> None:
    p256dh, auth = (b64url_decode(subscription["keys"][name]) for name in ("p256dh", "auth"))

    response = Push(subscription).send()

    assert set(subscription) == {"endpoint", "expirationTime", "keys"}
    assert set(subscription["keys"]) == {"p256dh", "auth"}
    assert ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    assert (len(p256dh), len(auth)) == (65, 16)
    assert response.status_code == 201
    assert stub.messages(channel="webpush")["messages"][0]["payload"] == ALERT


@pytest.mark.parametrize(
    "changes",
    [
        {"headers": {"TTL": "0"}},
        {"headers": {"Urgency": "very-low"}},
        {"headers": {"Topic": "A-_z9" * 6 + "AB"}},
        {"claims": {"sub": "https://shop.example.com/contact"}},
        {"expires_in": 24 * 3600 - 60},
        {"plaintext": b"x" * LARGEST_PLAINTEXT},
        {"plaintext": b"not JSON"},
        {"body": b"", "headers": {"Content-Encoding": None}},
    ],
    ids=["ttl-0", "very-low-urgency", "32-char-topic", "https-subject", "24h-token", "4096-byte-body",
         "not-json", "no-payload"],
)  # fmt: skip
def test_pushes_at_the_limits_are_accepted(stub: StubClient, subscription: dict, changes: dict) -> None:
    push = Push(subscription, **changes)

    response = push.send()

    assert response.status_code == 201
    [message] = stub.messages(channel="webpush")["messages"]
    expected = b"" if push.body is not None else push.plaintext
    assert message["text"] == expected.decode()


OTHER_SUBSCRIPTION_KEYS = {"p256dh": b64url(public_bytes(OTHER_KEY)), "auth": b64url(bytes(16))}
SERVER_K = b64url(public_bytes(SERVER_KEY))
MALFORMED_VAPID = "Missing or malformed VAPID authorization"


@pytest.mark.parametrize(
    ("changes", "status", "errno", "message"),
    [
        ({"headers": {"Authorization": None}}, 401, 109, MALFORMED_VAPID),
        ({"headers": {"Authorization": "Bearer abc"}}, 401, 109, MALFORMED_VAPID),
        ({"headers": {"Authorization": f"vapid k={SERVER_K}"}}, 401, 109, MALFORMED_VAPID),
        ({"headers": {"Authorization": f"vapid t=a.b.c, k={SERVER_K}"}}, 401, 109, MALFORMED_VAPID),
        ({"signer": OTHER_KEY}, 403, 109, "Invalid VAPID signature"),
        ({"signer": OTHER_KEY, "header_key": OTHER_KEY}, 403, 109, "VAPID public key mismatch"),
        ({"claims": {"aud": "https://push.example.com"}}, 403, 109, "Invalid VAPID audience"),
        ({"claims": {"aud": None}}, 403, 109, "Invalid VAPID audience"),
        ({"expires_in": -60}, 403, 109, "Invalid VAPID expiry"),
        ({"claims": {"exp": None}}, 403, 109, "Invalid VAPID expiry"),
        ({"expires_in": 24 * 3600 + 60}, 403, 109, "The VAPID token expiration is too long"),
        ({"claims": {"sub": None}}, 403, 109, "Invalid VAPID subject"),
        ({"claims": {"sub": "ops@example.com"}}, 403, 109, "Invalid VAPID subject"),
        ({"headers": {"TTL": None}}, 400, 111, "Missing TTL value"),
        ({"headers": {"TTL": "-1"}}, 400, 112, "Invalid TTL header value"),
        ({"headers": {"TTL": "soon"}}, 400, 112, "Invalid TTL header value"),
        ({"headers": {"Urgency": "urgent"}}, 400, 114, "Invalid Urgency header value"),
        ({"headers": {"Topic": "t" * 33}}, 400, 113, "Invalid Topic header value"),
        ({"headers": {"Topic": "theft alert"}}, 400, 113, "Invalid Topic header value"),
        ({"headers": {"Content-Encoding": None}}, 400, 110, "Missing Content-Encoding header"),
        ({"headers": {"Content-Encoding": "aesgcm"}}, 400, 110, "Unknown Content-Encoding header"),
        ({"plaintext": b"x" * (LARGEST_PLAINTEXT + 1)}, 413, 104, "Data payload too large"),
        ({"body": b"not encrypted at all"}, 400, 110, "The payload does not decrypt"),
        ({"keys": OTHER_SUBSCRIPTION_KEYS}, 400, 110, "The payload does not decrypt"),
    ],
    ids=["no-authorization", "not-vapid", "no-token", "not-a-jwt", "signed-with-another-key",
         "key-of-another-server", "audience-of-another-service", "no-audience", "expired", "no-expiry",
         "expires-after-24h", "no-subject", "subject-not-mailto-or-https", "no-ttl", "negative-ttl",
         "ttl-not-a-number", "unknown-urgency", "topic-too-long", "topic-not-base64url",
         "no-content-encoding", "older-content-encoding", "body-over-4096-bytes", "not-encrypted",
         "encrypted-for-another-browser"],
)  # fmt: skip
def test_webpush_refusals_in_autopush_shape(
    stub: StubClient, subscription: dict, changes: dict, status: int, errno: int, message: str
) -> None:
    response = Push(subscription, **changes).send()

    assert response.status_code == status
    assert response.json() == {
        "code": status,
        "errno": errno,
        "error": HTTP_STATUS_CODES[status],
        "message": message,
    }
    assert stub.messages(channel="webpush")["count"] == 0


def test_an_ended_subscription_answers_410_and_an_unknown_one_404(
    stub: StubClient, subscription: dict
) -> None:
    subscription_id = subscription["endpoint"].rsplit("/", 1)[1]

    ended = requests.delete(f"{stub.url}/webpush/subscriptions/{subscription_id}", timeout=TIMEOUT)
    gone = Push(subscription).send()
    unknown = Push({**subscription, "endpoint": f"{stub.url}/webpush/send/never-subscribed"}).send()
    not_there = requests.delete(f"{stub.url}/webpush/subscriptions/never-subscribed", timeout=TIMEOUT)

    assert ended.status_code == 204
    assert (gone.status_code, gone.json()["errno"]) == (410, 106)
    assert (unknown.status_code, unknown.json()["errno"]) == (404, 102)
    assert not_there.status_code == 404
    assert stub.messages(channel="webpush")["count"] == 0


SERVER_KEY_FIELD = {"application_server_key": b64url(public_bytes(SERVER_KEY))}


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({}, "application_server_key"),
        ({"application_server_key": "not base64url!"}, "application_server_key"),
        ({"application_server_key": b64url(bytes(32))}, "application_server_key"),
        ({"application_server_key": b64url(b"\x04" + bytes(64))}, "application_server_key"),
        ({**SERVER_KEY_FIELD, "private_key": b64url(bytes(31))}, "private_key"),
        ({**SERVER_KEY_FIELD, "private_key": b64url(bytes(32))}, "private_key"),
        ({**SERVER_KEY_FIELD, "auth": b64url(bytes(15))}, "auth"),
    ],
    ids=["no-server-key", "not-base64url", "short-server-key", "not-a-curve-point", "short-private-key",
         "zero-private-key", "short-auth"],
)  # fmt: skip
def test_subscribe_refuses_bad_keys_naming_the_field(stub: StubClient, body: dict, field_name: str) -> None:
    response = requests.post(f"{stub.url}/webpush/subscriptions", json=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field_name]


# --- FCM and its token endpoint ---


@pytest.fixture(scope="module")
def fcm_account() -> tuple[dict, dict]:
    return make_fcm_service_account(GOOGLE_TOKEN_URL, project_id=PROJECT)


@pytest.fixture(scope="module")
def other_account() -> tuple[dict, dict]:
    return make_fcm_service_account(GOOGLE_TOKEN_URL, project_id="another-project")


@dataclass
class Fcm:
    """The stub's FCM, with the key file of a service account it trusts pointed at its token endpoint."""

    stub: StubClient
    info: dict

    def credentials(self, info: dict | None = None) -> service_account.Credentials:
        return service_account.Credentials.from_service_account_info(info or self.info, scopes=[FCM_SCOPE])

    def access_token(self) -> str:
        credentials = self.credentials()
        credentials.refresh(Request(urllib3.PoolManager()))
        return credentials.token

    def grant(self, form: dict) -> requests.Response:
        return requests.post(f"{self.stub.url}/fcm/token", data=form, timeout=TIMEOUT)

    def send(self, message: dict, authorization: str | None, project: str = PROJECT) -> requests.Response:
        url = f"{self.stub.url}/fcm/v1/projects/{project}/messages:send"
        headers = {"Authorization": authorization} if authorization else {}
        return requests.post(url, json={"message": message}, headers=headers, timeout=TIMEOUT)


def register(stub_url: str, registration: dict) -> None:
    response = requests.post(f"{stub_url}/fcm/service-accounts", json=registration, timeout=TIMEOUT)
    assert response.status_code == 201


def trusting(stub: StubClient, account: tuple[dict, dict]) -> Fcm:
    info, registration = account
    register(stub.url, registration)
    return Fcm(stub, {**info, "token_uri": f"{stub.url}/fcm/token"})


@pytest.fixture
def fcm(stub: StubClient, fcm_account: tuple[dict, dict]) -> Fcm:
    return trusting(stub, fcm_account)


def assertion(info: dict, *, key: str | None = None, kid: str | None = None, **claims: object) -> str:
    """A signed JWT grant as google-auth makes it, with the claims, key or key id given instead."""
    issued = now()
    payload = {
        "iss": info["client_email"],
        "aud": GOOGLE_TOKEN_URL,
        "scope": FCM_SCOPE,
        "iat": issued,
        "exp": issued + 3600,
        **claims,
    }
    signer_info = {
        **info,
        "private_key": key or info["private_key"],
        "private_key_id": kid or info["private_key_id"],
    }
    return jwt.encode(crypt.RSASigner.from_service_account_info(signer_info), without_none(payload)).decode()


def grant(signed: str) -> dict[str, str]:
    return {"grant_type": JWT_BEARER, "assertion": signed}


def tokens_issued(stub: StubClient) -> int | None:
    return requests.get(f"{stub.url}/control", timeout=TIMEOUT).json()["counters"].get("fcm_tokens_issued")


def test_google_auth_gets_an_access_token_and_the_stub_counts_it(fcm: Fcm) -> None:
    assert tokens_issued(fcm.stub) is None
    credentials = fcm.credentials()

    credentials.refresh(Request(urllib3.PoolManager()))
    raw = fcm.grant(grant(assertion(fcm.info)))

    assert credentials.token.startswith("ya29.stub-")
    assert abs(credentials.expiry.timestamp() - time.time() - 3599) < 5
    assert raw.status_code == 200
    assert raw.json() == {
        "access_token": raw.json()["access_token"],
        "expires_in": 3599,
        "token_type": "Bearer",
    }
    assert raw.json()["access_token"] != credentials.token
    assert tokens_issued(fcm.stub) == 2


def test_clearing_the_messages_clears_the_token_count_but_not_the_tokens(fcm: Fcm) -> None:
    token = fcm.access_token()

    requests.delete(f"{fcm.stub.url}/messages", timeout=TIMEOUT)

    assert tokens_issued(fcm.stub) is None
    assert fcm.send(FCM_MESSAGE, f"Bearer {token}").status_code == 200


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        (lambda own, other: grant(assertion(own, key=other["private_key"])), "invalid_grant",
         "Invalid JWT Signature."),
        (lambda own, other: grant(assertion(own, kid="0" * 40)), "invalid_grant", "Invalid JWT Signature."),
        (lambda own, other: grant(assertion(other)), "invalid_grant", "Invalid grant: account not found"),
        (lambda own, other: grant(assertion(own, aud="https://example.com/token")), "invalid_grant",
         "Invalid JWT: Failed audience check."),
        (lambda own, other: grant(assertion(own, iat=now() - 4000, exp=now() - 400)), "invalid_grant",
         SHORT_LIVED_GRANT),
        (lambda own, other: grant(assertion(own, exp=now() + 7200)), "invalid_grant", SHORT_LIVED_GRANT),
        (lambda own, other: grant(assertion(own, iat=now() + 600, exp=now() + 1200)), "invalid_grant",
         SHORT_LIVED_GRANT),
        (lambda own, other: grant(assertion(own, exp=None)), "invalid_grant", SHORT_LIVED_GRANT),
        (lambda own, other: grant(assertion(own, scope="https://www.googleapis.com/auth/userinfo.email")),
         "invalid_scope", "Invalid OAuth scope or ID token audience provided."),
        (lambda own, other: {**grant(assertion(own)), "grant_type": "client_credentials"},
         "unsupported_grant_type", "Invalid grant_type: client_credentials"),
        (lambda own, other: {"grant_type": JWT_BEARER}, "invalid_request",
         "Missing required parameter: assertion"),
        (lambda own, other: grant("not.a.jwt"), "invalid_grant", "Invalid JWT: malformed assertion."),
    ],
    ids=["signed-with-another-key", "unknown-key-id", "unknown-issuer", "wrong-audience", "expired",
         "longer-than-an-hour", "issued-in-the-future", "no-expiry", "scope-without-fcm", "other-grant-type",
         "no-assertion", "malformed-assertion"],
)  # fmt: skip
def test_token_refusals_in_googles_shape(
    fcm: Fcm, other_account: tuple[dict, dict], form: Callable, error: str, description: str
) -> None:
    response = fcm.grant(form(fcm.info, other_account[0]))

    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}
    assert tokens_issued(fcm.stub) is None


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "{stub}/fcm/token"},
        {"scope": "https://www.googleapis.com/auth/cloud-platform"},
        {"scope": f"https://www.googleapis.com/auth/userinfo.email {FCM_SCOPE}"},
    ],
    ids=["audience-the-stubs-own-url", "cloud-platform-scope", "several-scopes"],
)
def test_grants_google_accepts_too(fcm: Fcm, claims: dict) -> None:
    claims = {name: value.format(stub=fcm.stub.url) for name, value in claims.items()}

    response = fcm.grant(grant(assertion(fcm.info, **claims)))

    assert response.status_code == 200
    assert tokens_issued(fcm.stub) == 1


def test_google_auth_sees_a_refused_grant_as_a_refresh_error(
    fcm: Fcm, other_account: tuple[dict, dict]
) -> None:
    forged = fcm.credentials({**fcm.info, "private_key": other_account[0]["private_key"]})

    with pytest.raises(RefreshError, match="invalid_grant: Invalid JWT Signature."):
        forged.refresh(Request(urllib3.PoolManager()))


def test_fcm_send_answers_the_message_name_and_records_it(fcm: Fcm) -> None:
    response = fcm.send(FCM_MESSAGE, f"Bearer {fcm.access_token()}")

    assert response.status_code == 200
    assert re.fullmatch(rf"projects/{PROJECT}/messages/0:\d+%[0-9a-f]{{16}}", response.json()["name"])
    [message] = fcm.stub.messages(channel="fcm")["messages"]
    assert {name: message[name] for name in ("address", "text", "alert_uuid", "payload")} == {
        "address": "device-1",
        "text": "Theft\nAt the tills",
        "alert_uuid": "alert-1",
        "payload": FCM_MESSAGE,
    }


@pytest.mark.parametrize(
    ("authorization", "project", "status", "google_status"),
    [
        (None, PROJECT, 401, "UNAUTHENTICATED"),
        ("Bearer ya29.made-up", PROJECT, 401, "UNAUTHENTICATED"),
        ("Basic {token}", PROJECT, 401, "UNAUTHENTICATED"),
        ("Bearer {token}", "another-project", 403, "PERMISSION_DENIED"),
    ],
    ids=["no-token", "token-not-issued", "not-bearer", "another-projects-account"],
)
def test_fcm_send_refuses_a_missing_or_wrong_token(
    fcm: Fcm, authorization: str | None, project: str, status: int, google_status: str
) -> None:
    token = fcm.access_token()
    header = authorization.format(token=token) if authorization else None

    response = fcm.send(FCM_MESSAGE, header, project)

    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, google_status)
    assert error["message"]
    assert fcm.stub.messages(channel="fcm")["count"] == 0


def test_fcm_send_refuses_an_expired_token(
    start_stub: StartStub, monkeypatch: pytest.MonkeyPatch, fcm_account: tuple[dict, dict]
) -> None:
    monkeypatch.setenv("STUB_FCM_TOKEN_EXPIRES_IN", "0")
    fcm = trusting(StubClient(start_stub()), fcm_account)
    granted = fcm.grant(grant(assertion(fcm.info))).json()

    response = fcm.send(FCM_MESSAGE, f"Bearer {granted['access_token']}")

    assert granted["expires_in"] == 0
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("message", "names"),
    [
        ({"notification": {"title": "Theft"}}, "Recipient of the message is not set."),
        ({"token": "device-1", "topic": "shop-1"}, "Cannot set 'topic'"),
        ({"token": 42}, "'message.token'"),
        ({"token": "device-1", "data": {"alert_uuid": "a-1", "count": 2}}, "'message.data[1].value'"),
        ({"token": "device-1", "data": ["alert_uuid"]}, "'message.data'"),
        ({"token": "device-1", "android": "HIGH"}, "'message.android'"),
        ({"token": "device-1", "android": {"priority": "URGENT"}}, "'message.android.priority'"),
        ({"token": "device-1", "android": {"priority": "high"}}, "'message.android.priority'"),
        ({"token": "device-1", "android": {"ttl": "300"}}, "'message.android.ttl'"),
        ({"token": "device-1", "android": {"ttl": "5m"}}, "'message.android.ttl'"),
        ({"token": "device-1", "android": {"ttl": "1.0123456789s"}}, "'message.android.ttl'"),
        ({"token": "device-1", "apns": {"headers": {"apns-priority": 10}}},
         "'message.apns.headers[0].value'"),
        ("device-1", "'message'"),
    ],
    ids=["no-target", "two-targets", "token-not-a-string", "data-value-not-a-string", "data-not-an-object",
         "android-not-an-object", "unknown-priority", "lowercase-priority", "ttl-without-unit",
         "ttl-in-minutes", "ttl-past-nanoseconds", "apns-header-not-a-string", "message-not-an-object"],
)  # fmt: skip
def test_fcm_send_refuses_a_bad_message_naming_the_field(fcm: Fcm, message: object, names: str) -> None:
    response = fcm.send(message, f"Bearer {fcm.access_token()}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["status"], error["details"][0]["errorCode"]) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert names in error["message"]
    assert fcm.stub.messages(channel="fcm")["count"] == 0


@pytest.mark.parametrize(
    ("message", "address", "text"),
    [
        ({"topic": "shop-1", "notification": {"title": "Theft"}}, "shop-1", "Theft"),
        ({"condition": "'shop-1' in topics", "data": {"alert_uuid": "a-1"}}, "'shop-1' in topics", ""),
        ({"token": "device-1", "android": {"priority": "NORMAL", "ttl": "3.5s"}}, "device-1", ""),
        ({"token": "device-1", "android": {"ttl": "0.000000001s"}, "apns": {"headers": {}}}, "device-1", ""),
    ],
    ids=["topic", "condition", "fractional-ttl", "nanosecond-ttl"],
)
def test_fcm_send_accepts_every_target_and_valid_option(
    fcm: Fcm, message: dict, address: str, text: str
) -> None:
    response = fcm.send(message, f"Bearer {fcm.access_token()}")

    assert response.status_code == 200
    [recorded] = fcm.stub.messages(channel="fcm")["messages"]
    assert (recorded["address"], recorded["text"]) == (address, text)


@pytest.mark.parametrize(
    ("device", "status", "google_status", "error_code"),
    [
        (f"{UNREGISTERED_FCM_TOKEN}-device-7", 404, "NOT_FOUND", "UNREGISTERED"),
        (INVALID_FCM_TOKEN, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (f"{MISMATCHED_FCM_TOKEN}:other-sender", 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    ],
    ids=["unregistered", "invalid", "sender-id-mismatch"],
)
def test_magic_device_tokens_provoke_fcms_refusals(
    fcm: Fcm, device: str, status: int, google_status: str, error_code: str
) -> None:
    response = fcm.send({**FCM_MESSAGE, "token": device}, f"Bearer {fcm.access_token()}")

    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, google_status)
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
    ]
    assert fcm.stub.messages(channel="fcm")["count"] == 0


# --- Injected failures, in each push provider's shape ---

FAIL_NEXT = {"fail_next": 1, "retry_after": 5}
HANG_NEXT = {"hang_next": 1, "hang_seconds": 0.05}


@pytest.mark.parametrize(
    ("settings", "status", "errno", "retry_after"),
    [
        ({**FAIL_NEXT, "fail_next_status": 429}, 429, 201, "5"),
        ({**FAIL_NEXT, "fail_next_status": 503}, 503, 201, "5"),
        ({**FAIL_NEXT, "fail_next_status": 500}, 500, 999, None),
        ({**FAIL_NEXT, "fail_next_status": 410}, 410, 106, None),
        (HANG_NEXT, 504, 999, None),
    ],
    ids=["429", "503", "500", "410", "hang"],
)
def test_webpush_injected_failures_then_recovery(
    stub: StubClient, subscription: dict, settings: dict, status: int, errno: int, retry_after: str | None
) -> None:
    stub.control(**settings)

    failed = Push(subscription).send()
    recovered = Push(subscription).send()

    assert failed.status_code == status
    assert failed.headers.get("Retry-After") == retry_after
    assert (failed.json()["code"], failed.json()["errno"]) == (status, errno)
    assert failed.json()["message"].startswith("injected failure")
    assert recovered.status_code == 201
    assert stub.messages(channel="webpush")["count"] == 1


@pytest.mark.parametrize(
    ("settings", "status", "google_status", "error_code", "retry_after"),
    [
        ({**FAIL_NEXT, "fail_next_status": 429}, 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "5"),
        ({**FAIL_NEXT, "fail_next_status": 503}, 503, "UNAVAILABLE", "UNAVAILABLE", "5"),
        ({**FAIL_NEXT, "fail_next_status": 500}, 500, "INTERNAL", "INTERNAL", None),
        (HANG_NEXT, 504, "DEADLINE_EXCEEDED", "UNSPECIFIED_ERROR", None),
    ],
    ids=["429", "503", "500", "hang"],
)
def test_fcm_injected_failures_then_recovery(
    fcm: Fcm, settings: dict, status: int, google_status: str, error_code: str, retry_after: str | None
) -> None:
    token = fcm.access_token()
    fcm.stub.control(**settings)

    failed = fcm.send(FCM_MESSAGE, f"Bearer {token}")
    recovered = fcm.send(FCM_MESSAGE, f"Bearer {token}")

    assert failed.status_code == status
    assert failed.headers.get("Retry-After") == retry_after
    error = failed.json()["error"]
    assert (error["code"], error["status"], error["details"][0]["errorCode"]) == (
        status,
        google_status,
        error_code,
    )
    assert recovered.status_code == 200
    assert fcm.stub.messages(channel="fcm")["count"] == 1


# --- Service accounts: registration, start-up file, and the CLI that writes them ---


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"client_email": None}, ["client_email"]),
        ({"project_id": "", "private_key_id": 7}, ["project_id", "private_key_id"]),
        ({"public_key": "not a PEM"}, ["public_key"]),
        (
            {
                "public_key": OTHER_KEY.public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            },
            ["public_key"],
        ),
    ],
    ids=["no-email", "empty-and-not-a-string", "not-pem", "not-rsa"],
)
def test_registering_a_service_account_refuses_bad_fields(
    stub: StubClient, fcm_account: tuple[dict, dict], change: dict, errors: list[str]
) -> None:
    registration = without_none({**fcm_account[1], **change})

    response = requests.post(f"{stub.url}/fcm/service-accounts", json=registration, timeout=TIMEOUT)

    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == sorted(errors)


def test_the_accounts_file_trusts_its_accounts_from_the_start(
    start_stub: StartStub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fcm_account: tuple[dict, dict]
) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([fcm_account[1]]))
    monkeypatch.setenv("STUB_FCM_SERVICE_ACCOUNTS_FILE", str(accounts))
    stub = StubClient(start_stub())
    fcm = Fcm(stub, {**fcm_account[0], "token_uri": f"{stub.url}/fcm/token"})

    response = fcm.send(FCM_MESSAGE, f"Bearer {fcm.access_token()}")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "content",
    ["not JSON", "{}", '[{"client_email": "a@b.iam.gserviceaccount.com"}]', None],
    ids=["not-json", "not-a-list", "account-without-key", "missing"],
)
def test_a_bad_accounts_file_stops_the_stub(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
) -> None:
    accounts = tmp_path / "accounts.json"
    if content is not None:
        accounts.write_text(content)
    monkeypatch.setenv("STUB_FCM_SERVICE_ACCOUNTS_FILE", str(accounts))

    with pytest.raises(ValueError, match="accounts.json"):
        create_stub_app()


@pytest.mark.parametrize("value", ["an hour", "-1", "1.5"])
def test_a_bad_token_lifetime_stops_the_stub(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STUB_FCM_TOKEN_EXPIRES_IN", value)

    with pytest.raises(ValueError, match="STUB_FCM_TOKEN_EXPIRES_IN"):
        create_stub_app()


def test_make_fcm_account_writes_a_key_file_and_the_accounts_the_stub_trusts(
    start_stub: StartStub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    key_file, accounts = tmp_path / "service-account.json", tmp_path / "accounts.json"
    token_uri = "http://stub.example:5000/fcm/token"

    main(["--make-fcm-account", str(key_file), str(accounts), "--token-uri", token_uri])

    info, [registration] = json.loads(key_file.read_text()), json.loads(accounts.read_text())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (info["type"], info["token_uri"]) == ("service_account", token_uri)
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert {name: info[name] for name in ("client_email", "project_id", "private_key_id")} == {
        name: registration[name] for name in ("client_email", "project_id", "private_key_id")
    }
    assert "PRIVATE" not in accounts.read_text()
    assert str(accounts) in capsys.readouterr().out
    monkeypatch.setenv("STUB_FCM_SERVICE_ACCOUNTS_FILE", str(accounts))
    stub = StubClient(start_stub())
    fcm = Fcm(stub, {**info, "token_uri": f"{stub.url}/fcm/token"})
    assert fcm.access_token().startswith("ya29.stub-")


def test_make_fcm_account_keeps_both_files_when_both_exist(tmp_path: Path) -> None:
    key_file, accounts = tmp_path / "service-account.json", tmp_path / "accounts.json"
    main(["--make-fcm-account", str(key_file), str(accounts)])
    written = key_file.read_text(), accounts.read_text()

    main(["--make-fcm-account", str(key_file), str(accounts)])

    assert (key_file.read_text(), accounts.read_text()) == written
    assert json.loads(written[0])["token_uri"] == "http://127.0.0.1:5000/fcm/token"


@pytest.mark.parametrize(
    "arguments",
    [
        ["--make-fcm-account", "{key_file}", "{accounts}"],
        ["--token-uri", "http://127.0.0.1:5000/fcm/token"],
    ],
    ids=["only-one-file-exists", "token-uri-alone"],
)
def test_make_fcm_account_refuses_to_replace_one_file_or_to_take_a_lone_token_uri(
    tmp_path: Path, arguments: list[str]
) -> None:
    key_file, accounts = tmp_path / "service-account.json", tmp_path / "accounts.json"
    accounts.write_text("[]")

    with pytest.raises(SystemExit) as exited:
        main([argument.format(key_file=key_file, accounts=accounts) for argument in arguments])

    assert exited.value.code == 2
    assert not key_file.exists()
    assert accounts.read_text() == "[]"
