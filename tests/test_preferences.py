import pytest

from nootification.models import Level
from tests.helpers.factories import make_location, make_user


@pytest.fixture
def user_uuid(db):
    return make_user(make_location(), level=Level.CRITICAL).user_uuid


@pytest.mark.parametrize("level", ["STANDARD", "standard", "Standard"])
def test_original_body_sets_the_level_in_any_case(client, user_uuid, level):
    response = client.put("/preferences", json={"user_id": user_uuid, "level": level})
    assert response.status_code == 200
    assert response.json == {
        "user_id": user_uuid,
        "level": "STANDARD",
        "channels": [{"channel": "push", "level": "STANDARD", "enabled": True}],
    }
    assert client.get(f"/preferences/{user_uuid}").json["level"] == "STANDARD"


def test_trailing_slash_is_accepted(client, user_uuid):
    response = client.put("/preferences/", json={"user_id": user_uuid, "level": "standard"})
    assert response.status_code == 200


def test_level_by_path(client, user_uuid):
    response = client.put(f"/preferences/{user_uuid}", json={"level": "standard"})
    assert response.status_code == 200
    assert client.get(f"/preferences/{user_uuid}").json["level"] == "STANDARD"


def test_new_users_default_to_critical(client, user_uuid):
    assert client.get(f"/preferences/{user_uuid}").json["level"] == "CRITICAL"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/preferences", {"user_id": "3f0b6d58-0000-4000-8000-000000000000", "level": "STANDARD"}),
        ("put", "/preferences/3f0b6d58-0000-4000-8000-000000000000", {"level": "STANDARD"}),
        ("get", "/preferences/3f0b6d58-0000-4000-8000-000000000000", None),
    ],
)
def test_unknown_user_is_a_404(client, db, method, path, body):
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 404
    assert response.json["code"] == 404


@pytest.mark.parametrize("level", ["URGENT", "", None, 3])
def test_bad_level_is_a_422_on_level(client, user_uuid, level):
    response = client.put("/preferences", json={"user_id": user_uuid, "level": level})
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["level"]
    assert client.get(f"/preferences/{user_uuid}").json["level"] == "CRITICAL"


def test_missing_user_id_is_a_422(client, user_uuid):
    response = client.put("/preferences", json={"level": "STANDARD"})
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["user_id"]


def test_unknown_field_is_refused(client, user_uuid):
    response = client.put("/preferences", json={"user_id": user_uuid, "level": "STANDARD", "lvl": 1})
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["lvl"]


def test_malformed_json_is_a_400(client, user_uuid):
    response = client.put("/preferences", data='{"user_id": ', content_type="application/json")
    assert response.status_code == 400


def test_wrong_content_type_is_a_415(client, user_uuid):
    response = client.put("/preferences", data="user_id=1&level=STANDARD", content_type="text/plain")
    assert response.status_code == 415


def test_body_over_64_kib_is_a_413(client, user_uuid):
    response = client.put("/preferences", json={"user_id": user_uuid, "level": "STANDARD", "x": "y" * 66_000})
    assert response.status_code == 413
