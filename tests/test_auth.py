"""Bearer tokens and scopes: 401 without a valid token, 403 without the scope, each scope on each endpoint."""

import pytest

from nootification.models import Level
from nootification.services.tokens import ADMIN, ALERTS_WRITE, PREFERENCES_SELF, create_token, revoke_token
from tests.helpers.factories import alert_payload, make_location, make_user

ADMIN_ENDPOINTS = [
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/locations"),
    ("post", "/locations"),
    ("get", "/routes"),
    ("get", "/templates"),
    ("get", "/deliveries"),
    ("get", "/alerts/33cbb18c-3e9d-4acc-9667-2fbe7bf29137"),
    ("post", "/alerts/33cbb18c-3e9d-4acc-9667-2fbe7bf29137/replay"),
    ("get", "/users/x/contact-points"),
]


@pytest.fixture
def staff(db):
    shop = make_location()
    return make_user(shop, level=Level.CRITICAL), make_user(shop, level=Level.CRITICAL)


@pytest.fixture
def tokens(staff):
    own, _ = staff
    return {
        ADMIN: create_token(name="a", scopes=[ADMIN]).token,
        ALERTS_WRITE: create_token(name="c", scopes=[ALERTS_WRITE]).token,
        PREFERENCES_SELF: create_token(name="p", scopes=[PREFERENCES_SELF], user_uuid=own.user_uuid).token,
    }


def call(anonymous, method, path, token=None, json=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return getattr(anonymous, method)(path, json=json if json is not None else {}, headers=headers)


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
def test_admin_endpoints_need_a_token_then_the_admin_scope(anonymous, tokens, method, path):
    missing = call(anonymous, method, path)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json["code"] == 401
    for scope in (ALERTS_WRITE, PREFERENCES_SELF):
        assert call(anonymous, method, path, tokens[scope]).status_code == 403
    assert call(anonymous, method, path, tokens[ADMIN]).status_code not in (401, 403)


@pytest.mark.parametrize("token", ["garbage", "noot_" + "x" * 43, ""])
def test_unknown_tokens_are_401(anonymous, tokens, token):
    response = anonymous.get("/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_a_revoked_token_is_refused(anonymous, db):
    issued = create_token(name="x", scopes=[ADMIN])
    assert call(anonymous, "get", "/users", issued.token).status_code == 200
    revoke_token(issued.record.id)
    assert call(anonymous, "get", "/users", issued.token).status_code == 401


def test_preferences_self_reads_and_changes_only_its_own_user(anonymous, tokens, staff):
    own, other = staff
    token = tokens[PREFERENCES_SELF]
    assert call(anonymous, "get", f"/preferences/{own.user_uuid}", token).status_code == 200
    assert (
        call(anonymous, "put", f"/preferences/{own.user_uuid}", token, {"level": "STANDARD"}).status_code
        == 200
    )
    body = {"user_id": own.user_uuid, "level": "CRITICAL"}
    assert call(anonymous, "put", "/preferences", token, body).status_code == 200
    for method, path, json in [
        ("get", f"/preferences/{other.user_uuid}", None),
        ("put", f"/preferences/{other.user_uuid}", {"level": "STANDARD"}),
        ("put", "/preferences", {"user_id": other.user_uuid, "level": "STANDARD"}),
    ]:
        response = call(anonymous, method, path, token, json)
        assert response.status_code == 403, path
    assert (
        call(anonymous, "get", f"/preferences/{other.user_uuid}", tokens[ADMIN]).json["level"] == "CRITICAL"
    )


def test_preferences_need_a_token(anonymous, staff, tokens):
    own, _ = staff
    assert call(anonymous, "get", f"/preferences/{own.user_uuid}").status_code == 401
    assert call(anonymous, "get", f"/preferences/{own.user_uuid}", tokens[ALERTS_WRITE]).status_code == 403


def test_alerts_need_alerts_write_or_admin(anonymous, tokens, staff):
    assert call(anonymous, "post", "/webhooks/alerts", json=alert_payload()).status_code == 401
    assert (
        call(anonymous, "post", "/webhooks/alerts", tokens[PREFERENCES_SELF], alert_payload()).status_code
        == 403
    )
    assert (
        call(anonymous, "post", "/webhooks/alerts", tokens[ALERTS_WRITE], alert_payload()).status_code == 201
    )
    assert call(anonymous, "post", "/webhooks/alerts", tokens[ADMIN], alert_payload()).status_code == 201


def test_quick_start_accepts_unauthenticated_alerts_when_allowed(app, anonymous, staff):
    app.config["ALLOW_UNAUTHENTICATED_ALERTS"] = True
    assert anonymous.post("/webhooks/alerts", json=alert_payload()).status_code == 201
    assert anonymous.get("/users").status_code == 401


def test_health_and_the_spec_are_public(anonymous):
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("scopes", "user", "field"),
    [([], None, "scopes"), (["root"], None, "scopes"), ([PREFERENCES_SELF], None, "user")],
)
def test_bad_token_requests_are_refused(db, scopes, user, field):
    from nootification.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        create_token(name="x", scopes=scopes, user_uuid=user)
    assert field in refused.value.errors


def test_tokens_are_stored_hashed(db):
    issued = create_token(name="x", scopes=[ADMIN])
    assert issued.token.startswith("noot_")
    assert issued.token not in issued.record.token_hash
    assert len(issued.record.token_hash) == 64


def test_token_commands(app, db, tmp_path, staff):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["tokens", "create", "--name", "camera", "--scope", "alerts:write"])
    assert created.exit_code == 0, created.output
    token_id = created.output.split()[1]
    assert "noot_" in created.output
    assert "camera" in runner.invoke(args=["tokens", "list"]).output
    assert "revoked" in runner.invoke(args=["tokens", "revoke", token_id]).output
    refused = runner.invoke(args=["tokens", "create", "--name", "x", "--scope", "preferences:self"])
    assert refused.exit_code == 1

    output = tmp_path / "tokens.json"
    assert runner.invoke(args=["tokens", "demo", "--output", str(output)]).exit_code == 0
    import json

    demo = json.loads(output.read_text())
    assert set(demo) == {"admin", "alerts", "users"}
    assert set(demo["users"]) == {user.user_uuid for user in staff}
    assert oct(output.stat().st_mode & 0o777) == "0o600"
