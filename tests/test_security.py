"""Rate limits, security headers and input guards."""

import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from nootification.services.staff_links import link_token
from nootification.services.tokens import ADMIN, PREFERENCES_SELF, create_token
from tests.helpers.config import limited_app
from tests.helpers.factories import alert_payload, make_location, make_user


def test_rate_limit_is_hit_with_retry_after_and_json_then_resets(limited, db):
    user = make_user(make_location())
    token = create_token(name="p", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid).token
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/preferences/{user.user_uuid}"
    assert [limited.get(path, headers=headers).status_code for _ in range(2)] == [200, 200]
    refused = limited.get(path, headers=headers)
    assert refused.status_code == 429
    assert refused.json["code"] == 429
    assert int(refused.headers["Retry-After"]) >= 0
    time.sleep(2.1)
    assert limited.get(path, headers=headers).status_code == 200


def test_retry_after_only_on_answers_that_ask_to_wait(limited, db):
    user = make_user(make_location())
    token = create_token(name="p", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid).token
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/preferences/{user.user_uuid}"
    answers = [
        limited.get(path, headers=headers),
        limited.put(path, headers=headers, json={"level": "nonsense"}),
        limited.get("/locations"),
    ]
    assert [answer.status_code for answer in answers] == [200, 422, 401]
    assert [answer.headers.get("Retry-After") for answer in answers] == [None, None, None]
    assert "X-RateLimit-Remaining" in answers[0].headers
    refused = [limited.get(path, headers=headers) for _ in range(2)][-1]
    assert refused.status_code == 429 and refused.headers["Retry-After"]


def test_the_alert_webhook_answers_without_rate_limit_figures_until_it_refuses(app, db):
    camera = limited_app(
        app, RATELIMIT_ALERTS="2 per 30 second", ALLOW_UNAUTHENTICATED_ALERTS=True
    ).test_client()
    shop = make_location()
    answers = [camera.post("/webhooks/alerts", json=alert_payload(shop.name)) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [201, 201, 429]
    # Each figure costs the API a Redis round trip, and the camera system reads none of them.
    assert not [name for name, _ in answers[0].headers if name.startswith("X-RateLimit")]
    refused = answers[2]
    assert refused.headers["X-RateLimit-Limit"] == "2" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert int(refused.headers["X-RateLimit-Reset"]) > time.time()


def test_limits_count_per_token_and_per_address(limited, db):
    first = {"Authorization": f"Bearer {create_token(name='a', scopes=[ADMIN]).token}"}
    second = {"Authorization": f"Bearer {create_token(name='b', scopes=[ADMIN]).token}"}
    assert [limited.get("/locations", headers=first).status_code for _ in range(4)][-1] == 429
    assert limited.get("/locations", headers=second).status_code == 200
    anonymous = [limited.get("/locations").status_code for _ in range(4)]
    assert anonymous == [401, 401, 401, 429]


def test_health_and_readiness_are_never_limited(limited):
    assert {limited.get("/health").status_code for _ in range(10)} == {200}
    assert 429 not in {limited.get("/ready").status_code for _ in range(10)}


def test_security_headers_on_every_response(client):
    for response in (client.get("/health"), client.get("/nowhere"), client.get("/openapi.json")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/users?location=a%00b", {}),
        ("post", "/locations", {"json": {"name": "a\u0000b"}}),
        ("get", "/users/a%00b", {}),
    ],
)
def test_nul_characters_are_refused(client, method, path, kwargs):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 422
    assert "NUL" in response.json["message"]


def limited_behind(app, hops: int):
    return limited_app(app, RATELIMIT_DEFAULT="3 per 30 second", PROXY_HOPS=hops).test_client()


def statuses_from(client, addresses: list[str]) -> list[int]:
    return [
        client.get("/locations", headers={"X-Forwarded-For": address}).status_code for address in addresses
    ]


def test_behind_a_proxy_each_forwarded_client_has_its_own_limit(app, db):
    client = limited_behind(app, hops=1)

    assert statuses_from(client, ["203.0.113.1"] * 4) == [401, 401, 401, 429]
    assert statuses_from(client, ["203.0.113.2"]) == [401]


def test_without_a_proxy_a_forwarded_header_changes_no_limit(app, db):
    client = limited_behind(app, hops=0)

    assert statuses_from(client, ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]) == [
        401,
        401,
        401,
        429,
    ]


def staff_links(limited, count: int) -> tuple[str, list[str]]:
    """An alert told to `count` members of staff of one shop, and each one's staff link path."""
    admin = {"Authorization": f"Bearer {create_token(name='admin', scopes=[ADMIN]).token}"}
    shop = make_location()
    people = [make_user(shop, name=f"Staff {n}") for n in range(count)]
    payload = alert_payload(shop.name)
    assert limited.post("/webhooks/alerts", json=payload, headers=admin).status_code == 201
    expires = datetime.now(UTC) + timedelta(hours=1)
    secret = limited.application.config["SECRET_KEY"]
    return payload["alert_uuid"], [
        f"/s/{link_token(payload['alert_uuid'], person.user_uuid, expires, secret)}" for person in people
    ]


def test_junk_links_from_a_shared_address_cannot_block_a_real_links_claim(app, db):
    limited = limited_app(
        app, RATELIMIT_STAFF="3 per 30 second", RATELIMIT_STAFF_PER_ADDRESS="50 per 30 second"
    ).test_client()
    _, [link, colleagues] = staff_links(limited, 2)
    forged = link_token(
        str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC) + timedelta(hours=1), "not-ours"
    )
    junk = [f"/s/{secrets.token_urlsafe(52)}" for _ in range(4)] + [f"/s/{forged}"] * 2
    assert [limited.post(f"{path}/claim").status_code for path in junk] == [404, 404, 404, 429, 429, 429]

    assert limited.post(f"{link}/claim").status_code == 303
    # One link hammered is limited (each route has its own count), and only that link.
    assert [limited.get(f"{link}/state").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert limited.post(f"{link}/claim").status_code == 303
    assert limited.get(f"{colleagues}/state").status_code == 200


def test_an_address_has_a_coarse_cap_over_every_staff_link(app, db):
    limited = limited_app(
        app, RATELIMIT_STAFF="3 per 30 second", RATELIMIT_STAFF_PER_ADDRESS="4 per 30 second"
    ).test_client()
    _, links = staff_links(limited, 5)
    assert [limited.get(f"{path}/state").status_code for path in links] == [200, 200, 200, 200, 429]


def test_secrets_are_compared_in_constant_time(app, anonymous, monkeypatch):
    app.config.update(TELEGRAM_WEBHOOK_SECRET="telegram-secret", SLACK_SIGNING_SECRET="slack-secret")
    compared: list[tuple] = []
    compare = hmac.compare_digest

    def spy(given, expected):
        compared.append((given, expected))
        return compare(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    expires = datetime.now(UTC) + timedelta(hours=1)
    forged = link_token(str(uuid.uuid4()), str(uuid.uuid4()), expires, "not-ours")
    refusals = [
        anonymous.get(f"/s/{forged}"),  # the link's MAC
        anonymous.post("/telegram/webhook", json={}, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}),
        anonymous.post(
            "/slack/interactions",
            data={"payload": "{}"},
            headers={
                "X-Slack-Request-Timestamp": str(int(time.time())),
                "X-Slack-Signature": "v0=" + "0" * 64,
            },
        ),
        anonymous.get(f"/ops/events?ticket=1.{int(time.time()) + 30}.{'0' * 64}"),
    ]
    assert [answer.status_code for answer in refusals] == [404, 401, 401, 401]
    assert len(compared) == len(refusals)
