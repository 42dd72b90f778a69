"""The audit log: one row per administrative change, with who, from where, before and after, masked; the
database refuses to change or delete a row; `GET /audit` reads it."""

from datetime import timedelta

import flask_migrate
import pytest
import sqlalchemy as sa

from nootification import create_app
from nootification.extensions import db
from nootification.models import APPEND_ONLY, ApiToken, AuditEntry, Level, utcnow
from nootification.services.audit import MASK, changed_fields, mask
from nootification.services.tokens import ADMIN, ALERTS_WRITE, PREFERENCES_SELF, create_token
from tests.helpers.config import make_config
from tests.helpers.factories import alert_payload, make_location, make_user, stored_deliveries

SHOP = "fr-auchan-larochelle"
PHONE = "+33612345678"


def entries(**filters) -> list[AuditEntry]:
    """The stored audit rows matching the filters (column=value), oldest first."""
    db.session.expire_all()
    query = sa.select(AuditEntry).filter_by(**filters).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def only_entry(**filters) -> AuditEntry:
    """The one audit row matching the filters."""
    [entry] = entries(**filters)
    return entry


def admin_id() -> int:
    """The id of the test client's admin token (named "tests")."""
    return db.session.scalar(sa.select(ApiToken.id).where(ApiToken.name == "tests"))


@pytest.fixture
def shop(client):
    response = client.post("/locations", json={"name": SHOP, "display_name": "Auchan"})
    assert response.status_code == 201
    return response.json


def assert_by_admin(entry: AuditEntry) -> None:
    assert entry.actor_name == "tests"
    assert entry.actor_token_id == admin_id()
    assert entry.actor_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ({"name": "Camille", "level": "CRITICAL"}, {"name": MASK, "level": "CRITICAL"}),
        ({"address": PHONE, "channel": "sms"}, {"address": MASK, "channel": "sms"}),
        ({"push_address": None, "name": ""}, {"push_address": None, "name": ""}),
        ({"options": {"p256dh": "key", "auth": "secret"}}, {"options": MASK}),
        ({"d-1": {"address": "a@example.com"}}, {"d-1": {"address": MASK}}),
        ([{"name": "Camille"}, {"label": "theft"}], [{"name": MASK}, {"label": "theft"}]),
        (None, None),
    ],
    ids=["name", "phone", "unset-kept", "push-keys", "nested", "list", "none"],
)
def test_personal_fields_and_secrets_are_masked(value, masked):
    assert mask(value) == masked


def test_changed_fields_compare_values_before_masking():
    assert changed_fields({"name": "A", "level": "x"}, {"name": "B", "level": "x"}) == ["name"]
    assert changed_fields(None, {"name": "A", "push_address": None}) == ["name"]
    assert changed_fields({"name": "A"}, None) == ["name"]


def test_a_location_and_its_tiers_each_change_leaves_one_row(client, shop):
    created = only_entry(action="location.create")
    assert_by_admin(created)
    assert (created.target_type, created.target_id, created.before) == ("location", SHOP, None)
    assert created.after["display_name"] == "Auchan" and created.after["escalation"] == []
    boss = client.post("/users", json={"name": "Dominique", "locations": []}).json["user_uuid"]
    response = client.patch(f"/locations/{SHOP}", json={"escalation": [[boss]], "escalate_after": 30})
    assert response.status_code == 200
    updated = only_entry(action="location.update")
    assert updated.before["escalation"] == [] and updated.after["escalation"] == [[boss]]
    assert updated.changed == ["escalate_after", "escalation"]
    assert client.delete(f"/locations/{SHOP}").status_code == 204
    deleted = only_entry(action="location.delete")
    assert (deleted.target_id, deleted.after, deleted.before["escalation"]) == (SHOP, None, [[boss]])
    assert len(entries(target_type="location", target_id=SHOP)) == 3


def test_a_user_change_is_recorded_with_the_name_and_push_address_masked(client, shop):
    body = {"name": "Camille Martin", "push_address": "device-1", "locations": [SHOP]}
    user_uuid = client.post("/users", json=body).json["user_uuid"]
    created = only_entry(action="user.create")
    assert_by_admin(created)
    assert created.target_type == "user" and created.target_id == user_uuid
    assert created.after == {
        "name": MASK,
        "level": "CRITICAL",
        "push_address": MASK,
        "locale": None,
        "locations": [SHOP],
    }
    client.patch(f"/users/{user_uuid}", json={"name": "Camille Durand", "level": "standard"})
    updated = only_entry(action="user.update")
    assert (updated.before["name"], updated.after["name"]) == (MASK, MASK)
    assert updated.changed == ["level", "name"]  # the name changed: it shows, its values do not
    assert client.delete(f"/users/{user_uuid}").status_code == 204
    deleted = only_entry(action="user.delete")
    assert deleted.before["locations"] == [SHOP] and deleted.after is None
    rows = db.session.execute(sa.text("SELECT before, after FROM audit_log")).all()
    assert not any("Camille" in str(row) or "device-1" in str(row) for row in rows)


def test_deleting_a_user_or_a_shop_keeps_their_history(client, shop):
    user_uuid = client.post("/users", json={"name": "Camille", "locations": [SHOP]}).json["user_uuid"]
    client.delete(f"/users/{user_uuid}")
    client.delete(f"/locations/{SHOP}")
    assert [e.action for e in entries(target_id=user_uuid)] == ["user.create", "user.delete"]
    assert [e.action for e in entries(target_id=SHOP)] == ["location.create", "location.delete"]


def test_contact_points_are_recorded_on_their_user_with_addresses_masked(client, shop):
    user_uuid = client.post("/users", json={"name": "Camille", "locations": [SHOP]}).json["user_uuid"]
    assert client.put(f"/users/{user_uuid}/contact-points/sms", json={"address": PHONE}).status_code == 200
    created = only_entry(action="contact_point.set")
    assert_by_admin(created)
    assert (created.target_type, created.target_id, created.before) == ("user", user_uuid, None)
    assert created.after == {"channel": "sms", "address": MASK, "options": {}, "enabled": True, "level": None}
    client.put(f"/users/{user_uuid}/contact-points/sms", json={"address": "+33699999999", "enabled": False})
    replaced = entries(action="contact_point.set")[1]
    assert replaced.before["enabled"] is True and replaced.after["enabled"] is False
    assert replaced.changed == ["address", "enabled"]
    assert client.delete(f"/users/{user_uuid}/contact-points/sms").status_code == 204
    deleted = only_entry(action="contact_point.delete")
    assert deleted.before["address"] == MASK and deleted.after is None
    assert PHONE not in str(db.session.execute(sa.text("SELECT before, after FROM audit_log")).all())


def test_a_preference_names_the_users_own_token(app, db):
    user = make_user(make_location(), level=Level.CRITICAL)
    own = create_token(name="Camille's phone", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {own.token}"
    response = client.put(f"/preferences/{user.user_uuid}", json={"level": "standard"})
    assert response.status_code == 200
    entry = only_entry(action="preference.set")
    assert (entry.actor_token_id, entry.actor_name) == (own.record.id, "Camille's phone")
    assert (entry.target_type, entry.target_id) == ("user", user.user_uuid)
    assert (entry.before["level"], entry.after["level"]) == ("CRITICAL", "STANDARD")


def test_routes_and_templates_each_change_leaves_one_row(client, shop):
    route = client.post("/routes", json={"label": "theft", "channels": ["push"], "location": SHOP}).json
    client.put(f"/routes/{route['id']}", json={"channels": ["push", "sms"]})
    client.delete(f"/routes/{route['id']}")
    rows = entries(target_type="route", target_id=str(route["id"]))
    assert [e.action for e in rows] == ["route.create", "route.update", "route.delete"]
    assert rows[0].after == {"label": "theft", "location": SHOP, "channels": ["push"]}
    assert (rows[1].before["channels"], rows[1].after["channels"]) == (["push"], ["push", "sms"])
    template = {"label": "theft", "channel": "sms", "locale": "fr", "body": "Vol à {{ location }}"}
    template_id = client.post("/templates", json=template).json["id"]
    client.patch(f"/templates/{template_id}", json={"body": "Vol !"})
    client.delete(f"/templates/{template_id}")
    rows = entries(target_type="template", target_id=str(template_id))
    assert [e.action for e in rows] == ["template.create", "template.update", "template.delete"]
    assert (rows[1].before["body"], rows[1].after["body"]) == ("Vol à {{ location }}", "Vol !")
    for entry in rows:
        assert_by_admin(entry)


def test_a_refused_change_leaves_no_row(client, shop):
    assert client.post("/locations", json={"name": SHOP}).status_code == 409
    assert client.post("/users", json={"locations": ["fr-nowhere"]}).status_code == 422
    assert client.post("/routes", json={"label": "nope", "channels": ["push"]}).status_code == 422
    assert [e.action for e in entries()] == ["token.create", "location.create"]


@pytest.fixture
def half_failed_alert(client, stub, run_worker) -> str:
    """An alert to two users whose first delivery was refused (failed) and second sent."""
    shop = make_location()
    make_user(shop, level=Level.STANDARD)
    make_user(shop, level=Level.STANDARD)
    payload = alert_payload()
    client.post("/webhooks/alerts", json=payload)
    stub.control(fail_next=1, fail_next_status=400)
    run_worker()
    return payload["alert_uuid"]


def test_a_retry_and_a_replay_of_dead_letters_are_recorded(client, half_failed_alert, run_worker, stub):
    [failed] = [d for d in stored_deliveries() if d.status.value == "failed"]
    assert client.post(f"/deliveries/{failed.id}/retry").status_code == 202
    retried = only_entry(action="delivery.retry")
    assert_by_admin(retried)
    assert (retried.target_type, retried.target_id) == ("delivery", failed.id)
    assert retried.before[failed.id]["status"] == "failed" and retried.after[failed.id]["status"] == "queued"
    stub.control(fail_next=1, fail_next_status=400)
    run_worker()  # refused once more: a dead letter again
    assert client.post(f"/alerts/{half_failed_alert}/replay").json["replayed"] == 1
    replayed = only_entry(action="alert.replay")
    assert (replayed.target_type, replayed.target_id) == ("alert", half_failed_alert)
    assert list(replayed.after) == [failed.id]


def test_cli_token_commands_name_the_command(app, db):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["tokens", "create", "--name", "camera 12", "--scope", ALERTS_WRITE])
    assert created.exit_code == 0, created.output
    token_id = created.output.split()[1]
    entry = only_entry(action="token.create", target_id=token_id)
    assert (entry.actor_name, entry.actor_token_id, entry.actor_address) == ("cli: tokens create", None, None)
    assert entry.after == {
        "token_name": "camera 12",
        "scopes": [ALERTS_WRITE],
        "user": None,
        "revoked_at": None,
    }
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    revoked = only_entry(action="token.revoke")
    assert revoked.actor_name == "cli: tokens revoke" and revoked.target_id == token_id
    assert revoked.before["revoked_at"] is None and revoked.after["revoked_at"] is not None
    assert "noot_" not in str(entry.after) + str(revoked.after)


def test_load_data_records_what_it_writes_and_nothing_on_a_second_load(app, db):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["load-data"]).exit_code == 0
    first = entries()
    assert first and {e.actor_name for e in first} == {"cli: load-data"}
    assert {"location.create", "user.create", "route.create", "contact_point.set"} <= {
        e.action for e in first
    }
    assert runner.invoke(args=["load-data"]).exit_code == 0
    assert len(entries()) == len(first)


def test_the_address_is_the_client_behind_the_configured_proxy(app, db, admin_token):
    proxied = create_app(
        make_config(
            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
            REDIS_URL=app.config["REDIS_URL"],
            PROXY_HOPS=1,
        )
    )
    client = proxied.test_client()
    headers = {"Authorization": f"Bearer {admin_token}", "X-Forwarded-For": "203.0.113.7"}
    assert client.post("/locations", json={"name": SHOP}, headers=headers).status_code == 201
    assert only_entry(action="location.create").actor_address == "203.0.113.7"


def test_get_audit_filters_by_target_and_time_and_pages(client, shop):
    client.patch(f"/locations/{SHOP}", json={"display_name": "Auchan LR"})
    client.post("/locations", json={"name": "fr-cora-metz"})
    page = client.get(f"/audit?target_type=location&target_id={SHOP}").json
    assert page["total"] == 2 and [e["action"] for e in page["items"]] == [
        "location.update",
        "location.create",
    ]
    newest = page["items"][0]
    assert newest["actor_name"] == "tests" and newest["actor_address"] == "127.0.0.1"
    assert newest["before"]["display_name"] == "Auchan" and newest["after"]["display_name"] == "Auchan LR"
    assert newest["changed"] == ["display_name"]
    assert client.get("/audit?target_type=location").json["total"] == 3
    second = client.get("/audit?target_type=location&page_size=2&page=2").json
    assert (second["total"], second["total_exact"], len(second["items"]), second["page"]) == (3, True, 1, 2)
    future = (utcnow() + timedelta(minutes=1)).isoformat()
    assert client.get("/audit", query_string={"since": future}).json["total"] == 0
    assert client.get("/audit", query_string={"until": future}).json["total"] == 4  # and the token's row
    assert client.get("/audit?since=yesterday").status_code == 422


def test_get_audit_is_for_admins_only(app, db):
    camera = create_token(name="camera", scopes=[ALERTS_WRITE]).token
    assert app.test_client().get("/audit").status_code == 401
    forbidden = app.test_client().get("/audit", headers={"Authorization": f"Bearer {camera}"})
    assert forbidden.status_code == 403
    admin = create_token(name="admin", scopes=[ADMIN]).token
    assert app.test_client().get("/audit", headers={"Authorization": f"Bearer {admin}"}).status_code == 200


def assert_refused(statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match=APPEND_ONLY), db.engine.begin() as connection:
        connection.execute(sa.text(statement))


def assert_append_only() -> None:
    """A row can be added; an UPDATE and a DELETE through SQL both fail (TRUNCATE too, on PostgreSQL)."""
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(AuditEntry.__table__).values(
                at=utcnow(), actor_name="x", action="a", target_type="t", target_id="1", changed=[]
            )
        )
    assert_refused("UPDATE audit_log SET actor_name = 'someone else'")
    assert_refused("DELETE FROM audit_log")
    if db.engine.dialect.name == "postgresql":
        assert_refused("TRUNCATE audit_log")
    with db.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT actor_name FROM audit_log")).scalars().all() == ["x"]


def test_the_table_made_by_create_all_refuses_update_and_delete(app, db):
    assert_append_only()


def test_the_table_made_by_the_migrations_refuses_update_and_delete(app):
    flask_migrate.upgrade()
    try:
        assert_append_only()
    finally:
        flask_migrate.downgrade(revision="base")
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def test_a_change_whose_audit_row_cannot_be_stored_is_not_stored_either(client, db):
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE audit_log"))
    assert client.post("/locations", json={"name": SHOP}).status_code >= 500
    db.session.rollback()
    assert client.get(f"/locations/{SHOP}").status_code == 404


def test_a_phone_registering_itself_is_recorded_under_its_users_token(app, db):
    user = make_user(make_location())
    own = create_token(name="Camille's phone", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {own.token}"
    device = {"address": "fcm-registration-token-1"}
    assert client.put(f"/preferences/{user.user_uuid}/devices/fcm", json=device).status_code == 200
    entry = only_entry(action="contact_point.set")
    assert (entry.actor_name, entry.target_id, entry.after["address"]) == (
        "Camille's phone",
        user.user_uuid,
        MASK,
    )


def test_demo_tokens_revoke_and_create_each_with_a_row(app, db, tmp_path):
    runner = app.test_cli_runner()
    output = tmp_path / "tokens.json"
    assert runner.invoke(args=["tokens", "demo", "--output", str(output)]).exit_code == 0
    assert runner.invoke(args=["tokens", "demo", "--output", str(output)]).exit_code == 0
    revoked = entries(action="token.revoke")
    assert len(revoked) == 2  # the first run's admin and alerts tokens (no users here)
    assert {e.actor_name for e in revoked} == {"cli: tokens demo"}
    assert len(entries(action="token.create", actor_name="cli: tokens demo")) == 4
