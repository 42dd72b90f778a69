"""A shop's opening hours, closures and off-hours tier through `/locations`: stored, shown, refused with their
reason and nothing stored, audited; the off-hours tier's people found with their contact points, and gone
once erased."""

import pytest
import sqlalchemy as sa

from nootification.models import AuditEntry, Level
from nootification.services.recipients import off_hours_staff
from tests.helpers.factories import make_location, make_user

SHOP = "fr-auchan-larochelle"
HOURS = {"mon": [["08:30", "20:00"]], "sat": [["22:00", "02:00"], ["08:30", "20:00"]]}
WEEK = {
    "mon": [["08:30", "20:00"]],
    "tue": [],
    "wed": [],
    "thu": [],
    "fri": [],
    "sat": [["08:30", "20:00"], ["22:00", "02:00"]],
    "sun": [],
}


@pytest.fixture
def shop(client) -> dict:
    answer = client.post("/locations", json={"name": SHOP, "timezone": "Europe/Paris"})
    assert answer.status_code == 201
    return answer.json


@pytest.fixture
def people(client, shop) -> list[str]:
    """Two people who are not the shop's staff: a manager on call and a security company."""
    return [
        client.post("/users", json={"name": name, "locations": []}).json["user_uuid"] for name in ("A", "B")
    ]


def test_a_new_shop_is_always_open_with_no_closures_and_no_off_hours_tier(shop):
    assert (shop["opening_hours"], shop["closures"], shop["off_hours_tier"]) == (None, [], [])


def test_the_fields_are_set_by_patch_and_shown_by_get(client, shop, people):
    changes = {"opening_hours": HOURS, "closures": ["2027-12-25", "2027-05-01", "2027-12-25"]}
    answer = client.patch(f"/locations/{SHOP}", json={**changes, "off_hours_tier": people[::-1]})
    assert answer.status_code == 200
    shown = client.get(f"/locations/{SHOP}").json
    assert shown == answer.json
    assert shown["opening_hours"] == WEEK
    assert shown["closures"] == ["2027-05-01", "2027-12-25"]
    assert shown["off_hours_tier"] == people[::-1]
    again = client.patch(f"/locations/{SHOP}", json={"opening_hours": None, "off_hours_tier": people[:1]})
    assert (again.json["opening_hours"], again.json["off_hours_tier"]) == (None, people[:1])
    assert again.json["closures"] == ["2027-05-01", "2027-12-25"]


def test_the_fields_are_taken_by_post(client, people):
    body = {"name": "Carrefour", "opening_hours": HOURS, "closures": ["2027-12-25"], "off_hours_tier": people}
    answer = client.post("/locations", json=body)
    assert answer.status_code == 201
    assert (answer.json["opening_hours"], answer.json["off_hours_tier"]) == (WEEK, people)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("opening_hours", {}),
        ("opening_hours", {"monday": [["08:00", "20:00"]]}),
        ("opening_hours", {"mon": [["08:00", "25:00"]]}),
        ("opening_hours", {"mon": [["08:00", "08:00"]]}),
        ("opening_hours", {"mon": [["08:00", "12:00"], ["11:00", "14:00"]]}),
        ("opening_hours", {"mon": "all day"}),
        ("opening_hours", ["08:00", "20:00"]),
        ("closures", ["2027-02-30"]),
        ("closures", "2027-12-25"),
        ("closures", [None]),
        ("closures", None),
        ("off_hours_tier", ["6f1c1d7e-8a4b-4b8e-9a51-3d6a3e1f0c2b"]),
        ("off_hours_tier", ["not a uuid"]),
        ("off_hours_tier", None),
    ],
)
def test_a_bad_value_is_refused_and_nothing_changes(client, shop, field, value):
    answer = client.patch(f"/locations/{SHOP}", json={field: value, "display_name": "Changed"})
    assert answer.status_code == 422
    assert list(answer.json["errors"]) == [field]
    assert client.get(f"/locations/{SHOP}").json == shop


def test_a_person_named_twice_in_the_off_hours_tier_is_refused(client, shop, people):
    answer = client.patch(f"/locations/{SHOP}", json={"off_hours_tier": [people[0], people[1], people[0]]})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"off_hours_tier": [f"User {people[0]} is named twice."]}


def test_a_change_is_in_the_audit_log(client, db, shop, people):
    body = {"opening_hours": HOURS, "closures": ["2027-12-25"], "off_hours_tier": people}
    assert client.patch(f"/locations/{SHOP}", json=body).status_code == 200
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "location.update").order_by(AuditEntry.id.desc())
    )
    assert entry.changed == ["closures", "off_hours_tier", "opening_hours"]
    assert (entry.before["opening_hours"], entry.before["closures"], entry.before["off_hours_tier"]) == (
        None,
        [],
        [],
    )
    assert (entry.after["opening_hours"], entry.after["closures"]) == (WEEK, ["2027-12-25"])
    assert entry.after["off_hours_tier"] == people


def test_off_hours_staff_are_the_tiers_people_with_their_contact_points(client, db):
    shop, other = make_location(SHOP), make_location("fr-other")
    floor = make_user(shop, level=Level.STANDARD)
    manager = make_user(level=Level.CRITICAL, push_address="manager-phone")
    guard = make_user(other)
    point = {"address": "security@example.com"}
    assert client.put(f"/users/{guard.user_uuid}/contact-points/email", json=point).status_code == 200
    tier = [guard.user_uuid, manager.user_uuid]
    assert client.patch(f"/locations/{SHOP}", json={"off_hours_tier": tier}).status_code == 200

    staff = off_hours_staff(shop.id)

    assert [person.id for person in staff] == sorted([manager.id, guard.id])
    assert floor.id not in {person.id for person in staff}
    by_id = {person.id: person for person in staff}
    assert by_id[manager.id].push_address == "manager-phone" and by_id[manager.id].level is Level.CRITICAL
    assert [(p.channel, p.address) for p in by_id[guard.id].contact_points] == [
        ("email", "security@example.com")
    ]
    assert off_hours_staff(other.id) == []


def test_an_erased_person_leaves_the_off_hours_tier(client, db, shop, people):
    assert client.patch(f"/locations/{SHOP}", json={"off_hours_tier": people}).status_code == 200
    assert client.post(f"/users/{people[0]}/erase").status_code == 200
    assert client.get(f"/locations/{SHOP}").json["off_hours_tier"] == people[1:]
    shop_id = db.session.scalar(sa.text("SELECT id FROM locations WHERE name = :name"), {"name": SHOP})
    assert len(off_hours_staff(shop_id)) == 1


def test_the_export_of_a_person_names_the_shops_whose_off_hours_tier_they_are_in(client, shop, people):
    assert client.patch(f"/locations/{SHOP}", json={"off_hours_tier": people}).status_code == 200
    assert client.get(f"/users/{people[0]}/export").json["off_hours"] == [SHOP]
    assert client.post(f"/users/{people[0]}/erase").status_code == 200
    assert client.get(f"/users/{people[0]}/export").json["off_hours"] == []
