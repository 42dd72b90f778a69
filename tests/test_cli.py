"""The `flask` commands, run through click as a shell would run them."""

import json

import sqlalchemy as sa

from nootification.cli import DEMO_DATA
from nootification.extensions import db
from nootification.models import Level, Location, User
from tests.factories import alert_payload


def test_load_data_loads_the_demo_shops_and_staff_and_is_repeatable(app, db):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["load-data"])
        assert result.exit_code == 0, result.output
    demo = json.loads(DEMO_DATA.read_text())
    names = set(db.session.scalars(sa.select(Location.name)))
    assert names == {location["name"] for location in demo["locations"]}
    assert "fr-auchan-larochelle" in names
    assert len(names) == 11
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == len(demo["users"])
    for location in db.session.scalars(sa.select(Location)):
        assert {user.level for user in location.users} == {Level.STANDARD, Level.CRITICAL}, location.name


def test_load_data_reads_a_given_file(app, db, tmp_path):
    data = {"locations": [{"name": "fr-x", "display_name": "X"}], "users": []}
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    result = app.test_cli_runner().invoke(args=["load-data", str(path)])
    assert result.exit_code == 0
    assert "loaded 1 locations and 0 users" in result.output


def test_worker_command_delivers_what_is_queued(app, client, stub):
    app.test_cli_runner().invoke(args=["load-data"])
    payload = alert_payload(location="fr-auchan-larochelle", label="theft")
    expected = client.post("/webhooks/alerts", json=payload).json["delivery_count"]
    assert expected >= 2

    result = app.test_cli_runner().invoke(args=["worker", "--burst"])

    assert result.exit_code == 0, result.output
    assert stub.messages(payload["alert_uuid"])["count"] == expected
    db.session.remove()
