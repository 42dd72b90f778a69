"""Silences: made, listed and ended early through the API by an admin or the shop's manager, every change
audited, and the rule that says which silence holds an alert."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import AuditEntry, Location, Severity, Silence, utcnow
from nootification.services.silences import silence_for
from nootification.services.tokens import ALERTS_WRITE, PREFERENCES_SELF, create_token
from tests.helpers.factories import bearer, make_location, make_user

SHOP = "Super U/La Rochelle"
OTHER = "fr-auchan-larochelle"
URL = "/locations/Super%20U%2FLa%20Rochelle/silences"


def later(**delta) -> str:
    """A moment from now, as ISO 8601 with its UTC offset."""
    return (utcnow() + timedelta(**delta)).isoformat()


def body(**fields) -> dict:
    """A valid silence: every label, from now for an hour; fields override."""
    return {"ends_at": later(hours=1), "comment": "Stocktaking: cameras see boxes move.", **fields}


def audit_rows(action: str) -> list[AuditEntry]:
    """The stored audit rows of this action, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry).filter_by(action=action).order_by(AuditEntry.id)))


@pytest.fixture
def shops(db) -> tuple[Location, Location]:
    """The shop whose silences are made (its name needs percent-encoding, `/` included), and another."""
    return make_location(SHOP), make_location(OTHER)


def own_token(user_uuid: str, name: str) -> str:
    """A person's own preferences:self token."""
    return create_token(name=name, scopes=[PREFERENCES_SELF], user_uuid=user_uuid).token


@pytest.fixture
def manager(app, client, shops):
    """A client with the own token of Dominique, in tier 2 of the shop."""
    dominique = make_user(name="Dominique")
    answer = client.patch(f"/locations/{SHOP}", json={"escalation": [[dominique.user_uuid]]})
    assert answer.status_code == 200, answer.json
    return bearer(app, own_token(dominique.user_uuid, "Dominique's phone"))


def test_an_admin_makes_lists_and_ends_a_silence(client, shops):
    starts, ends = later(minutes=-1), later(hours=2)
    answer = client.post(
        URL,
        json=body(labels=["Suspicious", "normal", "suspicious"], starts_at=starts, ends_at=ends),
    )
    assert answer.status_code == 201, answer.json
    silence = answer.json
    assert silence["labels"] == ["normal", "suspicious"]
    assert (silence["location"], silence["state"], silence["include_critical"]) == (SHOP, "active", False)
    assert datetime.fromisoformat(silence["starts_at"]) == datetime.fromisoformat(starts)
    assert datetime.fromisoformat(silence["ends_at"]) == datetime.fromisoformat(ends)
    assert (silence["created_by"], silence["ended_at"]) == ("tests", None)
    assert silence["comment"] == "Stocktaking: cameras see boxes move."

    ended = client.delete(f"{URL}/{silence['id']}")
    assert ended.status_code == 200, ended.json
    assert ended.json["state"] == "ended" and ended.json["ended_at"] is not None
    [listed] = client.get(URL).json
    assert listed == ended.json  # kept, never deleted
    again = client.delete(f"{URL}/{silence['id']}")
    assert again.status_code == 409 and again.json["message"] == "This silence is already over (ended)."


def test_the_list_is_newest_first_with_each_ones_state(client, shops):
    made = [client.post(URL, json=body(comment=str(n))).json["id"] for n in range(4)]
    expired, ended, pending, _active = made
    row = db.session.get(Silence, expired)
    row.starts_at, row.ends_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
    row = db.session.get(Silence, pending)
    row.starts_at = utcnow() + timedelta(minutes=30)
    db.session.commit()
    assert client.delete(f"{URL}/{ended}").status_code == 200
    listed = client.get(URL).json
    assert [silence["comment"] for silence in listed] == ["3", "2", "1", "0"]
    assert [silence["state"] for silence in listed] == ["active", "pending", "ended", "expired"]
    assert client.delete(f"{URL}/{pending}").json["state"] == "ended"
    refused = client.delete(f"{URL}/{expired}")
    assert refused.status_code == 409 and "expired" in refused.json["message"]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"labels": ["shoplifting"]}, "labels", "Unknown labels: shoplifting"),
        ({"labels": "theft"}, "labels", "Not a valid list."),
        ({"ends_at": "2099-01-01T08:00:00"}, "ends_at", "Must carry a UTC offset"),
        ({"starts_at": "tomorrow"}, "starts_at", "Not a valid datetime."),
        ({"starts_at": later(hours=2), "ends_at": later(hours=1)}, "ends_at", "Must come after starts_at."),
        ({"starts_at": later(hours=-2), "ends_at": later(hours=-1)}, "ends_at", "Must be in the future"),
        ({"ends_at": later(days=91)}, "ends_at", "at most 90 days"),
        ({"comment": ""}, "comment", "Length must be between 1 and 500."),
        ({"comment": "   "}, "comment", "Say why, in 1 to 500 characters."),
        ({"comment": "x" * 501}, "comment", "Length must be between 1 and 500."),
        ({"include_critical": "sometimes"}, "include_critical", "Not a valid boolean."),
        ({"author": "me"}, "author", "Unknown field."),
    ],
    ids=[
        "unknown-label",
        "labels-not-a-list",
        "no-offset",
        "not-a-time",
        "ends-before-start",
        "over-already",
        "too-long",
        "empty-comment",
        "blank-comment",
        "comment-too-long",
        "not-a-boolean",
        "unknown-field",
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_nothing_is_stored(client, shops, fields, field, reason):
    answer = client.post(URL, json=body(**fields))
    assert answer.status_code == 422, answer.json
    assert reason in answer.json["errors"][field][0], answer.json
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Silence)) == 0
    assert audit_rows("silence.create") == []


def test_a_missing_end_or_comment_is_a_422(client, shops):
    answer = client.post(URL, json={"labels": ["theft"]})
    assert answer.status_code == 422
    assert set(answer.json["errors"]) == {"ends_at", "comment"}


def test_the_shops_manager_may_with_their_own_token(manager, shops):
    made = manager.post(URL, json=body(labels=["theft"], include_critical=True))
    assert made.status_code == 201, made.json
    assert made.json["created_by"] == "Dominique's phone" and made.json["include_critical"] is True
    assert [silence["id"] for silence in manager.get(URL).json] == [made.json["id"]]
    assert manager.delete(f"{URL}/{made.json['id']}").status_code == 200


def test_anyone_else_is_refused_with_the_json_error_shape(app, client, shops):
    shop, other = shops
    made = client.post(URL, json=body()).json["id"]
    elsewhere = make_user(other, name="Manager elsewhere")
    tiers = client.patch(f"/locations/{OTHER}", json={"escalation": [[elsewhere.user_uuid]]})
    assert tiers.status_code == 200
    staff = make_user(shop, name="Floor staff")
    refused = {
        "manager of another shop": bearer(app, own_token(elsewhere.user_uuid, "elsewhere")),
        "staff of the shop": bearer(app, own_token(staff.user_uuid, "staff")),
        "alerts:write": bearer(app, create_token(name="camera", scopes=[ALERTS_WRITE]).token),
    }
    for who, caller in refused.items():
        for answer in (
            caller.post(URL, json=body()),
            caller.get(URL),
            caller.delete(f"{URL}/{made}"),
            caller.get("/locations/nowhere/silences"),  # an unknown shop tells them nothing either
        ):
            assert answer.status_code == 403, (who, answer.json)
            assert answer.json["code"] == 403 and answer.json["status"] == "Forbidden", who
    anonymous = app.test_client().get(URL)
    assert anonymous.status_code == 401 and anonymous.json["code"] == 401
    assert db.session.get(Silence, made).ended_at is None


def test_unknown_shops_and_silences_are_404(client, shops):
    made = client.post(URL, json=body()).json["id"]
    for answer in (
        client.post("/locations/nowhere/silences", json=body()),
        client.get("/locations/nowhere/silences"),
        client.delete(f"/locations/nowhere/silences/{made}"),
        client.delete(f"{URL}/00000000-0000-0000-0000-000000000000"),
        client.delete(f"/locations/{OTHER}/silences/{made}"),  # another shop's
    ):
        assert answer.status_code == 404, answer.json
        assert answer.json["code"] == 404


def test_the_shop_itself_is_still_read_through_its_own_route(client, shops):
    assert client.get("/locations/Super%20U%2FLa%20Rochelle").json["name"] == SHOP


def test_each_change_is_audited_with_its_actor(client, manager, shops):
    made = manager.post(URL, json=body(labels=["theft"])).json
    [created] = audit_rows("silence.create")
    assert (created.target_type, created.target_id, created.before) == ("silence", made["id"], None)
    assert created.actor_name == "Dominique's phone"
    assert created.after == {
        "location": SHOP,
        "labels": ["theft"],
        "starts_at": made["starts_at"],
        "ends_at": made["ends_at"],
        "comment": made["comment"],
        "include_critical": False,
        "ended_at": None,
    }
    ended = client.delete(f"{URL}/{made['id']}").json
    [end] = audit_rows("silence.end")
    assert (end.actor_name, end.target_id, end.changed) == ("tests", made["id"], ["ended_at"])
    assert end.after["ended_at"] == ended["ended_at"]
    assert client.delete(f"{URL}/{made['id']}").status_code == 409
    assert len(audit_rows("silence.end")) == 1


T = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
STD, CRIT = Severity.STANDARD, Severity.CRITICAL
# Each case: the silences of the shop (name, labels, include_critical, ended_at), then an alert's label,
# severity and moment, and the silence that holds it (None: it goes out). Every silence runs T to T + 2 h.
CASES = {
    "label-named": ([("s", ["suspicious"], False, None)], "suspicious", STD, T + HOUR, "s"),
    "label-not-named": ([("s", ["suspicious"], False, None)], "normal", STD, T + HOUR, None),
    "no-labels-is-every-label": ([("s", [], False, None)], "normal", STD, T + HOUR, "s"),
    "critical-left-out": ([("s", [], False, None)], "theft", CRIT, T + HOUR, None),
    "critical-named-left-out": ([("s", ["theft"], False, None)], "theft", CRIT, T + HOUR, None),
    "critical-included": ([("s", ["theft"], True, None)], "theft", CRIT, T + HOUR, "s"),
    "before-start": ([("s", [], False, None)], "normal", STD, T - timedelta(seconds=1), None),
    "at-start": ([("s", [], False, None)], "normal", STD, T, "s"),
    "at-end": ([("s", [], False, None)], "normal", STD, T + 2 * HOUR, None),
    "after-end": ([("s", [], False, None)], "normal", STD, T + 3 * HOUR, None),
    "ended-early": ([("s", [], False, T + HOUR / 2)], "normal", STD, T + HOUR, None),
    "before-it-was-ended": ([("s", [], False, T + HOUR / 2)], "normal", STD, T + HOUR / 4, "s"),
    "another-shops": ([("elsewhere", [], True, None)], "theft", CRIT, T + HOUR, None),
    "critical-only-by-the-one-that-includes-it": (
        [("a", [], False, None), ("b", ["theft"], True, None)],
        "theft",
        CRIT,
        T + HOUR,
        "b",
    ),
}


@pytest.mark.parametrize(("silences", "label", "severity", "at", "expected"), CASES.values(), ids=CASES)
def test_silence_for(shops, silences, label, severity, at, expected):
    shop, other = shops
    stored = {}
    for name, labels, include_critical, ended_at in silences:
        stored[name] = Silence(
            location=other if name == "elsewhere" else shop,
            labels=labels,
            starts_at=T,
            ends_at=T + 2 * HOUR,
            comment=name,
            include_critical=include_critical,
            created_by="tests",
            ended_at=ended_at,
        )
        db.session.add(stored[name])
    db.session.commit()
    found = silence_for(shop.id, label, severity, at)
    assert found is (stored[expected] if expected else None)


def test_of_two_silences_the_one_that_ends_last_holds_the_alert(shops):
    shop, _ = shops
    for comment, hours in (("short", 1), ("long", 5), ("middle", 3)):
        db.session.add(
            Silence(location=shop, starts_at=T, ends_at=T + hours * HOUR, comment=comment, created_by="t")
        )
    db.session.commit()
    assert silence_for(shop.id, "normal", STD, T + HOUR / 2).comment == "long"


def test_silence_for_reads_the_shops_silences_through_an_index(app, shops):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan of an empty PostgreSQL table is a sequential scan whatever the indexes")
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2:4]))
    silence_for(shops[0].id, "theft", CRIT, T)
    [(statement, parameters)] = [(s, p) for s, p in statements if "FROM silences" in s]
    plan = db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    assert any("ix_silences_location_id_ends_at" in row[-1] for row in plan), plan
