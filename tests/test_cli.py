"""The `flask` commands, run through click as a shell would run them."""

import json
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import Result

from nootification.cli import DEMO_DATA
from nootification.extensions import db
from nootification.models import ContactPoint, Level, Location, RouteRule, User
from nootification.services import directory, routing
from nootification.services.contacts import set_contact_point
from nootification.services.tokens import ALERTS_WRITE, create_token
from tests.helpers.factories import alert_payload
from tests.helpers.processes import queue_due_retries
from tests.helpers.push import registered_account

USER = "6f1d2c3b-0000-4000-8000-000000000001"


def stored_directory() -> dict[str, list[tuple]]:
    """Every route and contact point as rows, ids included, to compare two loads."""
    db.session.expire_all()
    routes = db.session.scalars(sa.select(RouteRule).order_by(RouteRule.id))
    points = db.session.scalars(sa.select(ContactPoint).order_by(ContactPoint.id))
    return {
        "routes": [(r.id, r.location_id, r.label, r.channels) for r in routes],
        "contact_points": [
            (p.id, p.user.user_uuid, p.channel, p.address, p.options, p.enabled, p.level) for p in points
        ],
    }


def load(app, data: dict, tmp_path, *options: str) -> Result:
    """Run `flask load-data` on `data` written to a file."""
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    return app.test_cli_runner().invoke(args=["load-data", str(path), *options])


def test_load_data_loads_the_demo_shops_and_staff_and_is_repeatable(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["load-data"])
    assert result.exit_code == 0, result.output
    first = stored_directory()
    result = runner.invoke(args=["load-data"])
    assert result.exit_code == 0, result.output

    assert stored_directory() == first
    demo = json.loads(DEMO_DATA.read_text())
    names = set(db.session.scalars(sa.select(Location.name)))
    assert names == {location["name"] for location in demo["locations"]}
    assert "fr-auchan-larochelle" in names
    assert len(names) == 11
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == len(demo["users"])
    for location in db.session.scalars(sa.select(Location)):
        assert {user.level for user in location.users} == {Level.STANDARD, Level.CRITICAL}, location.name
    points = sum(len(user.get("contact_points", [])) for user in demo["users"])
    assert f"{len(demo['routes'])} routes and {points} contact points" in result.output


ORIGINAL_STAFF = {
    "Carrefour": {1: Level.CRITICAL, 2: Level.STANDARD, 3: Level.CRITICAL},
    "Leclerc": {4: Level.CRITICAL, 5: Level.STANDARD, 6: Level.CRITICAL},
    "Auchan": {7: Level.CRITICAL, 8: Level.STANDARD, 9: Level.CRITICAL},
    "Intermarché": {10: Level.CRITICAL, 11: Level.STANDARD, 12: Level.CRITICAL},
    "Monoprix": {13: Level.CRITICAL, 14: Level.STANDARD, 15: Level.CRITICAL},
    "Super U": {16: Level.CRITICAL, 17: Level.STANDARD, 18: Level.CRITICAL},
    "Casino": {19: Level.CRITICAL, 20: Level.STANDARD},
    "Franprix": dict.fromkeys((21, 22, 23), Level.STANDARD),
    "Cora": dict.fromkeys((24, 25, 26), Level.STANDARD),
    "Carrefour Market": dict.fromkeys((27, 28, 29), Level.STANDARD),
}


def test_demo_data_holds_the_original_services_shops_and_staff_as_they_were(app, db):
    assert app.test_cli_runner().invoke(args=["load-data"]).exit_code == 0

    for shop, staff in ORIGINAL_STAFF.items():
        location = directory.get_location(shop)
        original = {
            int(user.user_uuid[-12:]): user.level
            for user in location.users
            if user.user_uuid.startswith("00000000-0000-0000-0000-")
        }
        assert original == staff, shop
    names = set(db.session.scalars(sa.select(Location.name)))
    assert names == {"fr-auchan-larochelle", *ORIGINAL_STAFF}


def test_demo_data_routes_and_contact_points(app, db):
    app.test_cli_runner().invoke(args=["load-data"])

    routes = {(r.location.name if r.location else None, r.label): r.channels for r in routing.list_routes()}
    assert routes[None, "theft"] == [
        "email",
        "fcm",
        "push",
        "slack",
        "sms",
        "teams",
        "telegram",
        "webhook",
        "webpush",
    ]
    assert routes[None, "normal"] == ["push"]
    assert routes["fr-auchan-larochelle", "suspicious"] == ["fcm", "push", "sms", "telegram", "webpush"]
    # The original service's staff have push alone; the rest show every channel.
    users = [user for user in db.session.scalars(sa.select(User)) if user.user_uuid[:9] != "00000000-"]
    with_points = [user for user in users if user.contact_points]
    assert len(with_points) > len(users) // 2
    channels = {point.channel for user in users for point in user.contact_points}
    assert {"sms", "email", "slack", "telegram", "fcm"} <= channels
    assert any(point.level is not None for user in users for point in user.contact_points)
    assert any(not point.enabled for user in users for point in user.contact_points)
    addresses = [(p.channel, p.address) for user in users for p in user.contact_points]
    assert len(addresses) == len(set(addresses)), "e2e.py tells users apart by their address"


def test_load_data_reads_a_given_file(app, db, tmp_path):
    data = {"locations": [{"name": "fr-x", "display_name": "X"}], "users": []}
    result = load(app, data, tmp_path)
    assert result.exit_code == 0
    assert "loaded 1 locations, 0 users, 0 routes and 0 contact points" in result.output


def directory_file(**changes) -> dict:
    """A small data file: one shop, one user with an SMS contact point, one route; `changes` on top."""
    user = {
        "user_uuid": USER,
        "level": "CRITICAL",
        "locations": ["fr-x"],
        "contact_points": [{"channel": "sms", "address": "+33639980001"}],
    }
    return {
        "locations": [{"name": "fr-x"}],
        "users": [{**user, **changes.pop("user", {})}],
        "routes": [{"label": "theft", "channels": ["push", "sms"]}],
        **changes,
    }


def test_load_data_adds_what_is_missing_and_leaves_what_exists(app, db, tmp_path):
    assert load(app, directory_file(), tmp_path).exit_code == 0
    before = stored_directory()
    db.session.get(User, 1).level = Level.STANDARD  # as a change through the API would
    db.session.commit()
    changed = directory_file(
        locations=[{"name": "fr-x", "display_name": "Renamed"}, {"name": "fr-y"}],
        user={
            "contact_points": [
                {"channel": "sms", "address": "+33639980002"},
                {"channel": "telegram", "address": "418230999"},
            ]
        },
        routes=[{"label": "theft", "channels": ["sms"]}, {"label": "normal", "channels": ["push"]}],
    )

    result = load(app, changed, tmp_path)

    assert result.exit_code == 0, result.output
    assert "(3 written)" in result.output
    after = stored_directory()
    assert after["contact_points"][0] == before["contact_points"][0]
    assert [point[2:4] for point in after["contact_points"][1:]] == [("telegram", "418230999")]
    assert after["routes"][0] == before["routes"][0]
    assert [route[2:] for route in after["routes"][1:]] == [("normal", ["push"])]
    assert db.session.get(User, 1).level == Level.STANDARD
    assert {location.name: location.display_name for location in db.session.scalars(sa.select(Location))} == {
        "fr-x": "fr-x",
        "fr-y": "fr-y",
    }


def test_load_data_reset_puts_the_files_rows_back(app, db, tmp_path):
    data = directory_file(
        user={"contact_points": [{"channel": "sms", "address": "+33639980001"}], "level": "CRITICAL"}
    )
    assert load(app, data, tmp_path).exit_code == 0
    user = db.session.get(User, 1)
    user.level = Level.STANDARD
    user.locations = []
    db.session.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["load-data", "--help"]).output.count("--reset") == 1
    set_contact_point(USER, "telegram", address="418230999")

    result = load(app, data, tmp_path, "--reset")

    assert result.exit_code == 0, result.output
    assert "reset" in result.output
    user = db.session.get(User, 1)
    assert user.level == Level.CRITICAL
    assert [location.name for location in user.locations] == ["fr-x"]
    assert [(point.channel, point.address) for point in user.contact_points] == [("sms", "+33639980001")]


def test_load_data_reset_updates_routes_and_contact_points_in_place(app, db, tmp_path):
    assert load(app, directory_file(), tmp_path).exit_code == 0
    before = stored_directory()
    changed = directory_file(
        user={"contact_points": [{"channel": "sms", "address": "+33639980002", "level": "standard"}]},
        routes=[
            {"label": "theft", "channels": ["sms"]},
            {"label": "theft", "channels": ["push"], "location": "fr-x"},
        ],
    )

    result = load(app, changed, tmp_path, "--reset")

    assert result.exit_code == 0, result.output
    after = stored_directory()
    [(point_id, *_)] = before["contact_points"]
    assert after["contact_points"] == [(point_id, USER, "sms", "+33639980002", {}, True, Level.STANDARD)]
    [(route_id, *_)] = before["routes"]
    location_id = db.session.scalar(sa.select(Location.id).where(Location.name == "fr-x"))
    assert after["routes"] == [
        (route_id, None, "theft", ["sms"]),
        (route_id + 1, location_id, "theft", ["push"]),
    ]


@pytest.mark.parametrize(
    ("changes", "named", "reason"),
    [
        (
            {"user": {"contact_points": [{"channel": "sms", "address": "0639980001"}]}},
            f"sms contact point of user {USER}",
            "Not an E.164 phone number",
        ),
        (
            {"user": {"contact_points": [{"channel": "email", "address": "camille"}]}},
            f"email contact point of user {USER}",
            "address: Not a valid email address.",
        ),
        (
            {"user": {"contact_points": [{"channel": "fax", "address": "+33639980001"}]}},
            f"fax contact point of user {USER}",
            "Unknown channel.",
        ),
        (
            {"routes": [{"label": "theft", "channels": ["push", "pigeon"]}]},
            "route for 'theft' at every location",
            "Unknown channels: pigeon.",
        ),
        (
            {"routes": [{"label": "theft", "channels": ["push"], "location": "fr-nowhere"}]},
            "route for 'theft' at fr-nowhere",
            "No location with this name.",
        ),
    ],
)
def test_load_data_refuses_what_the_services_refuse_and_names_it(app, db, tmp_path, changes, named, reason):
    result = load(app, directory_file(**changes), tmp_path)

    assert result.exit_code == 1
    assert f"Error: {named}: " in result.output
    assert reason in result.output
    assert "Traceback" not in result.output
    # Nothing refused is stored; what came before it in the file is.
    stored = stored_directory()
    assert stored["contact_points"] == []
    routes_before = [] if "routes" in changes else [("theft", ["push", "sms"])]
    assert [route[2:] for route in stored["routes"]] == routes_before
    assert db.session.scalar(sa.select(User.user_uuid)) == USER


def test_worker_command_delivers_the_demo_data_on_every_routed_channel(
    channels_app, smtp_server, monkeypatch
):
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(registered_account(smtp_server.url)))
    runner = channels_app.test_cli_runner()
    assert runner.invoke(args=["load-data"]).exit_code == 0
    payload = alert_payload(location="fr-auchan-larochelle", label="theft")
    token = create_token(name="camera", scopes=[ALERTS_WRITE]).token
    headers = {"Authorization": f"Bearer {token}"}
    expected = (
        channels_app.test_client()
        .post("/webhooks/alerts", json=payload, headers=headers)
        .json["delivery_count"]
    )

    def received() -> list[dict]:
        return [
            message
            for message in smtp_server.messages()["messages"]
            if message["alert_uuid"] == payload["alert_uuid"] or payload["url"] in message.get("text", "")
        ]

    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    # The shop's ladder keeps the SMS for its second step, 10 s later, and the calls for its third, at 20 s.
    assert "sms" not in Counter(message.get("channel", "push") for message in received())
    for wait in (11, 21):
        assert queue_due_retries(ahead=timedelta(seconds=wait)) == 3
        result = runner.invoke(args=["worker", "--burst"])
        assert result.exit_code == 0, result.output

    # Camille: every channel; Hugo: push, sms, voice, telegram, fcm; Élise: push (STANDARD), sms, voice,
    # email, slack. A call names its alert nowhere a message does: the stub has only this alert's.
    calls = smtp_server.messages(channel="voice")["messages"]
    assert expected == len(received()) + len(calls) == 7 + 5 + 5
    channels = Counter(message.get("channel", "push") for message in received() + calls)
    assert channels == {"push": 3, "sms": 3, "voice": 3, "email": 2, "slack": 2, "telegram": 2, "fcm": 2}
