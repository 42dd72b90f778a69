"""Access on request: `GET /users/<uuid>/export`, everything held about one person, for an admin or for the
person's own token."""

import pytest
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Level, Outcome
from nootification.services.tokens import PREFERENCES_SELF, create_token
from nootification.staff.claims import claim, record_outcome
from tests.helpers.factories import alert_payload, bearer, make_location, make_user


@pytest.fixture
def staff(client):
    """Camille (push, an email, a tier at another shop) and Hugo, at one shop."""
    shop = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris")
    camille = make_user(shop, level=Level.STANDARD, name="Camille Durand", push_address="camille-phone")
    hugo = make_user(shop, level=Level.STANDARD, name="Hugo Martin")
    make_location(name="fr-other-shop")
    assert (
        client.patch("/locations/fr-other-shop", json={"escalation": [[camille.user_uuid]]}).status_code
        == 200
    )
    point = {"address": "camille.durand@example.com", "enabled": False, "level": "CRITICAL"}
    assert client.put(f"/users/{camille.user_uuid}/contact-points/email", json=point).status_code == 200
    return camille, hugo


def test_the_export_holds_every_personal_field_and_the_alerts_the_person_was_told_of(
    app, client, staff, run_worker
):
    camille, hugo = staff
    own = create_token(name="Camille's phone", scopes=[PREFERENCES_SELF], user_uuid=camille.user_uuid)
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    run_worker()
    alert = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == payload["alert_uuid"]))
    claim(alert, camille)
    record_outcome(alert, camille, outcome=Outcome.THEFT_STOPPED, value_recovered=12.5, note="aisle 4")

    answer = bearer(app, own.token).get(f"/users/{camille.user_uuid}/export")

    assert answer.status_code == 200
    document = answer.json
    user = document["user"]
    assert (user["user_uuid"], user["name"], user["level"], user["push_address"], user["erased_at"]) == (
        camille.user_uuid,
        "Camille Durand",
        "STANDARD",
        "camille-phone",
        None,
    )
    assert [shop["name"] for shop in user["locations"]] == ["fr-auchan-larochelle"]
    assert [(p["channel"], p["address"], p["enabled"]) for p in user["contact_points"]] == [
        ("email", "camille.durand@example.com", False)
    ]
    assert {(c["channel"], c["level"]) for c in document["preference"]["channels"]} == {
        ("email", "CRITICAL"),
        ("push", "STANDARD"),
    }
    assert document["escalation"] == [{"location": "fr-other-shop", "tier": 2}]
    [token] = document["tokens"]
    assert (token["name"], token["scopes"], token["revoked_at"]) == (
        "Camille's phone",
        [PREFERENCES_SELF],
        None,
    )
    assert own.record.token_hash not in answer.get_data(as_text=True)
    assert own.token not in answer.get_data(as_text=True)
    [told] = document["alerts"]
    assert told["alert"]["alert_uuid"] == payload["alert_uuid"]
    assert (told["alert"]["location"], told["alert"]["label"]) == ("fr-auchan-larochelle", "theft")
    assert [(d["channel"], d["status"]) for d in told["deliveries"]] == [("push", "sent")]
    assert told["deliveries"][0]["sent_at"] is not None
    assert [c["alert_uuid"] for c in document["claims"]] == [payload["alert_uuid"]]
    [outcome] = document["outcomes"]
    assert (outcome["outcome"], outcome["value_recovered"], outcome["note"]) == (
        "theft_stopped",
        12.5,
        "aisle 4",
    )
    assert [(r["alert_uuid"], r["outcome"], r["note"]) for r in document["outcome_records"]] == [
        (payload["alert_uuid"], "theft_stopped", "aisle 4")
    ]
    assert document["exported_at"]
    # Nothing of anyone else.
    assert hugo.user_uuid not in answer.get_data(as_text=True) and "Hugo" not in answer.get_data(as_text=True)
    assert client.get(f"/users/{camille.user_uuid}/export").json["user"] == user  # an admin reads the same


def test_another_persons_token_is_refused_and_an_unknown_user_is_not_found(app, client, anonymous, staff):
    camille, hugo = staff
    hugos = create_token(name="Hugo's phone", scopes=[PREFERENCES_SELF], user_uuid=hugo.user_uuid).token

    refused = bearer(app, hugos).get(f"/users/{camille.user_uuid}/export")

    assert refused.status_code == 403
    assert "Camille" not in refused.get_data(as_text=True)
    assert anonymous.get(f"/users/{camille.user_uuid}/export").status_code == 401
    unknown = client.get("/users/6f1c3f1e-8a57-4a43-a2f8-2f7f4f1e0c11/export")
    assert unknown.status_code == 404 and unknown.json["message"] == "No user with this user_id."


def test_the_export_of_an_erased_person_holds_only_what_is_left(client, staff):
    camille, _ = staff
    assert client.post(f"/users/{camille.user_uuid}/erase").status_code == 200

    document = client.get(f"/users/{camille.user_uuid}/export").json

    assert "Camille" not in str(document) and "camille" not in str(document)
    assert document["user"]["contact_points"] == [] and document["user"]["locations"] == []
    assert document["escalation"] == [] and document["user"]["erased_at"] is not None
