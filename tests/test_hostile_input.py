"""What black-box probing found: deep JSON, lone surrogates, chunked bodies, made-up tokens, reused ids."""

import json
import uuid

import pytest
import requests
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert
from nootification.security import MAX_JSON_DEPTH
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.signatures import alerts_stored, post, signed


def nested(depth: int, leaf: str = "x") -> list:
    """A value `depth` arrays deep."""
    value: str | list = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_json(depth: int) -> str:
    """A JSON array nested `depth` deep, written without recursion (json.dumps would need it too)."""
    return "[" * depth + "]" * depth


def post_json(client, path: str, text: str, method: str = "post"):
    """Send `text` as it is, declared as JSON."""
    return getattr(client, method)(path, data=text, content_type="application/json")


@pytest.mark.parametrize("path", ["/webhooks/alerts", "/webhooks/alerts/batch", "/locations"])
@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"location": ' + deep_json(20_000) + ', "name": "x"}', "location"),
        ('{"name": "x", "display_name": ' + deep_json(20_000) + "}", "display_name"),
        (deep_json(20_000), "_body"),
        ('{"name": "[[[[{{{{", "timezone": ' + deep_json(MAX_JSON_DEPTH) + "}", "timezone"),
    ],
    ids=["first field", "later field", "bare array", "past the limit"],
)
def test_deep_nesting_is_a_400_naming_the_field(client, path, text, field):
    response = post_json(client, path, text)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["code"] == 400
    assert "nested deeper" in response.json["errors"][field][0].lower()


def test_nesting_up_to_the_limit_is_read_and_validated(client):
    body = json.dumps({"name": "x", "display_name": nested(MAX_JSON_DEPTH - 1)})
    response = post_json(client, "/locations", body)
    assert response.status_code == 422
    assert response.json["errors"] == {"display_name": ["Not a valid string."]}


def test_brackets_inside_strings_are_not_nesting(client):
    response = client.post("/locations", json={"name": "shop [" + "[{" * 100, "display_name": "]}" * 100})
    assert response.status_code == 201, response.json


# (method, path with the stored user's uuid to fill in, body, the field the answer names)
LONE_SURROGATE_CASES = [
    ("post", "/webhooks/alerts", alert_payload(url="https://media.example.com/\ud800.mp4"), "url"),
    ("post", "/webhooks/alerts", alert_payload(location="shop\udfff"), "location"),
    (
        "post",
        "/webhooks/alerts/batch",
        {"alerts": [alert_payload(), alert_payload(label="the\udc00ft")]},
        "alerts.1.label",
    ),
    ("post", "/users", {"user_uuid": str(uuid.uuid4()), "name": "Zo\ud800"}, "name"),
    ("patch", "/users/{user_uuid}", {"name": "\udc00Zoe"}, "name"),
    ("put", "/preferences", {"user_id": "\ud800", "level": "critical"}, "user_id"),
    (
        "put",
        "/preferences/{user_uuid}",
        {"level": "critical", "channels": [{"channel": "sms"}, {"channel": "email\ud83d"}]},
        "channels.1.channel",
    ),
    (
        "put",
        "/users/{user_uuid}/contact-points/webhook",
        {"address": "https://h.test/\ud800"},
        "address",
    ),
    ("put", "/users/{user_uuid}/contact-points/email", {"options": {"\udbff": "x"}}, "options.\\udbff"),
    ("post", "/locations", {"name": "shop", "display_name": "caf\udce9"}, "display_name"),
]


@pytest.mark.parametrize(("method", "path", "payload", "field"), LONE_SURROGATE_CASES)
def test_lone_surrogates_are_a_422_naming_the_field(client, method, path, payload, field):
    user = make_user(make_location())
    body = json.dumps(payload)  # ensure_ascii: the lone surrogate travels as its \u escape
    assert "\\ud" in body
    response = post_json(client, path.format(user_uuid=user.user_uuid), body, method)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.json["code"] == 422
    assert "surrogate" in response.json["errors"][field][0]


def test_surrogate_pairs_are_ordinary_characters(client):
    body = json.dumps({"user_uuid": str(uuid.uuid4()), "name": "Zoë \U0001f600"})
    assert "\\ud83d\\ude00" in body
    response = post_json(client, "/users", body)
    assert response.status_code == 201, response.json
    assert response.json["name"] == "Zoë \U0001f600"


@pytest.fixture
def served(app, db, serve_app, admin_token):
    """The app on a real loopback server, and the admin headers for a JSON body."""
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    return serve_app(app), headers


def chunked(text: str, size: int = 1000):
    """The body as a generator: requests then sends it with Transfer-Encoding: chunked."""
    data = text.encode()
    for start in range(0, len(data), size):
        yield data[start : start + size]


def send_chunked(served, path: str, text: str) -> requests.Response:
    url, headers = served
    response = requests.post(url + path, data=chunked(text), headers=headers, timeout=10)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.request.headers
    return response


def test_a_chunked_body_is_read(served):
    response = send_chunked(served, "/locations", json.dumps({"name": "chunked", "display_name": "x"}))
    assert response.status_code == 201, response.text


def test_a_chunked_body_with_nul_is_refused_and_nothing_stored(served, client):
    body = json.dumps({"name": "nul-shop", "display_name": "before\u0000after"})
    response = send_chunked(served, "/locations", body)
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["message"]
    assert client.get("/locations/nul-shop").status_code == 404


def test_a_chunked_body_past_the_size_limit_is_a_413(served, app):
    body = json.dumps({"name": "big", "display_name": "x" * app.config["MAX_CONTENT_LENGTH"]})
    response = send_chunked(served, "/locations", body)
    assert response.status_code == 413
    assert response.json()["code"] == 413


def test_a_chunked_body_nested_too_deep_is_a_400(served):
    response = send_chunked(served, "/webhooks/alerts", '{"location": ' + deep_json(20_000) + "}")
    assert response.status_code == 400, response.text
    assert "location" in response.json()["errors"]


def test_a_chunked_alert_batch_nested_too_deep_is_a_400_and_nothing_stored(served):
    text = '{"alerts": [' + json.dumps(alert_payload()) + ", " + deep_json(20_000) + "]}"
    response = send_chunked(served, "/webhooks/alerts/batch", text)
    assert response.status_code == 400, response.text
    assert "alerts" in response.json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_a_chunked_alert_batch_past_its_size_limit_is_a_413(served):
    items = [alert_payload(url="https://media.example.com/" + "a" * 2000) for _ in range(300)]
    response = send_chunked(served, "/webhooks/alerts/batch", json.dumps({"alerts": items}))
    assert response.status_code == 413, response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_a_chunked_body_with_a_lone_surrogate_is_a_422(served):
    response = send_chunked(served, "/locations", json.dumps({"name": "s", "display_name": "\ud800"}))
    assert response.status_code == 422, response.text
    assert "display_name" in response.json()["errors"]


def test_unknown_bearer_values_are_limited_by_address(limited):
    answers = [
        limited.get("/locations", headers={"Authorization": f"Bearer {uuid.uuid4().hex}"}).status_code
        for _ in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    assert limited.get("/locations").status_code == 429  # the same address, without a token


def test_a_token_that_authenticates_keeps_its_own_limit(limited, admin_token):
    for _ in range(3):
        limited.get("/locations", headers={"Authorization": f"Bearer {uuid.uuid4().hex}"})
    headers = {"Authorization": f"Bearer {admin_token}"}
    assert [limited.get("/locations", headers=headers).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_a_webhook_id_reused_for_another_body_is_a_409(signed_app, anonymous):
    first_body = json.dumps(alert_payload()).encode()
    headers = signed(first_body)
    assert post(anonymous, first_body, headers).status_code == 201
    other = alert_payload()
    other_body = json.dumps(other).encode()
    response = post(anonymous, other_body, signed(other_body, webhook_id=headers["webhook-id"]))
    assert response.status_code == 409, response.json
    assert response.json["code"] == 409
    assert "webhook-id" in response.json["errors"]
    assert alerts_stored() == 1
    assert db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == other["alert_uuid"])) is None


def test_a_webhook_id_replayed_with_its_body_still_gets_the_first_answer(signed_app, anonymous):
    body = json.dumps(alert_payload()).encode()
    headers = signed(body)
    first = post(anonymous, body, headers)
    again = post(anonymous, body, signed(body, webhook_id=headers["webhook-id"]))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json


SPECIAL_TARGETS = [
    "https://224.0.0.1/hook",  # multicast
    "https://239.255.255.250/hook",  # multicast (SSDP)
    "https://240.0.0.1/hook",  # reserved
    "https://255.255.255.255/hook",  # broadcast
    "https://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
    "https://[ff02::1]/hook",  # IPv6 multicast
    "https://[::]/hook",  # unspecified
    "https://[fe80::1]/hook",  # link-local
    "https://[fec0::1]/hook",  # site-local
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "https://[::ffff:224.0.0.1]/hook",  # IPv4-mapped multicast
    "https://[::127.0.0.1]/hook",  # IPv4-compatible loopback
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 of loopback
    "https://[2002:7f00:1::1]/hook",  # 6to4 of loopback
]


@pytest.mark.parametrize("url", SPECIAL_TARGETS)
def test_special_addresses_are_refused_as_webhook_targets(client, strict, url):
    user = make_user(make_location())
    response = client.put(f"/users/{user.user_uuid}/contact-points/webhook", json={"address": url})
    assert response.status_code == 422, response.json
    assert "address" in response.json["errors"]


@pytest.mark.parametrize(
    "url", ["https://93.184.215.14/hook", "https://[2606:2800:220:1:248:1893:25c8:1946]/hook"]
)
def test_public_unicast_addresses_are_accepted_as_webhook_targets(client, strict, url):
    user = make_user(make_location())
    response = client.put(f"/users/{user.user_uuid}/contact-points/webhook", json={"address": url})
    assert response.status_code == 200, response.json
