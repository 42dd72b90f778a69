"""Erasure on request: `POST /users/<uuid>/erase` removes a person's data, keeps the counts, and no later
alert reaches them."""

import json

import pytest
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import ApiToken, ContactPoint, Delivery, DeliveryAttempt, Level, Outcome, User
from nootification.services.erasure import pseudonym
from nootification.services.tokens import PREFERENCES_SELF, create_token
from nootification.staff.claims import claim, record_outcome
from tests.helpers.factories import alert_payload, bearer, make_location, make_user, stats_figures


@pytest.fixture
def staff(client):
    """Camille (push, a disabled email, a token, an escalation tier elsewhere) and Hugo, at one shop."""
    shop = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris")
    camille = make_user(shop, level=Level.STANDARD, name="Camille Durand", push_address="camille-phone")
    hugo = make_user(shop, level=Level.STANDARD, name="Hugo")
    other = make_location(name="fr-other-shop")
    assert (
        client.patch(f"/locations/{other.name}", json={"escalation": [[camille.user_uuid]]}).status_code
        == 200
    )
    point = {"address": "camille.durand@example.com", "enabled": False}
    assert client.put(f"/users/{camille.user_uuid}/contact-points/email", json=point).status_code == 200
    return camille, hugo


def posted_alert(client, run_worker) -> dict:
    """Post an alert to the shop and deliver it."""
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    run_worker()
    return payload


def test_erasure_removes_the_person_and_keeps_the_counts(app, client, staff, run_worker, stub):
    camille, hugo = staff
    token = create_token(name="Camille's phone", scopes=[PREFERENCES_SELF], user_uuid=camille.user_uuid).token
    stub.control(fail_next=2, fail_next_status=400)  # each delivery's ledger quotes the provider's answer
    payload = posted_alert(client, run_worker)
    alert = db.session.get(Delivery, db.session.scalar(sa.select(Delivery.id).limit(1))).alert
    claim(alert, camille)
    record_outcome(alert, camille, outcome=Outcome.FALSE_ALARM, note="Camille checked aisle 4")
    stats = stats_figures(client)
    assert bearer(app, token).get(f"/preferences/{camille.user_uuid}").status_code == 200

    answer = client.post(f"/users/{camille.user_uuid}/erase")

    assert answer.status_code == 200
    erased = answer.json
    assert erased["name"] == pseudonym(camille.user_uuid) and erased["name"].startswith("Effacé ")
    assert "Camille" not in answer.get_data(as_text=True)
    assert (erased["push_address"], erased["contact_points"], erased["locations"]) == (None, [], [])
    assert erased["erased_at"] is not None
    assert client.get(f"/users/{camille.user_uuid}").json == erased
    assert client.get("/locations/fr-other-shop").json["escalation"] == []
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ContactPoint)) == 0
    assert db.session.scalar(sa.select(ApiToken.revoked_at).where(ApiToken.user_id == camille.id)) is not None
    assert bearer(app, token).get(f"/preferences/{camille.user_uuid}").status_code == 401
    # The ledger keeps every row, without what it quoted of Camille's messages; Hugo's stays as it was.
    rows = db.session.execute(
        sa.select(Delivery.user_id, Delivery.status, Delivery.last_error, DeliveryAttempt.error_message)
        .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
        .where(Delivery.alert.has(alert_uuid=payload["alert_uuid"]))
    ).all()
    assert len(rows) == 2
    assert [(row.last_error, row.error_message) for row in rows if row.user_id == camille.id] == [
        (None, None)
    ]
    assert all(row.last_error and row.error_message for row in rows if row.user_id == hugo.id)
    assert stats_figures(client) == stats
    assert client.get(f"/alerts/{payload['alert_uuid']}").json["claimed_by"] == camille.user_uuid
    # The erasure is in the audit log, as one row that names no personal detail.
    audit = client.get("/audit", query_string={"action": "user.erase"}).json["items"]
    assert [(row["target_id"], row["actor_name"]) for row in audit] == [(camille.user_uuid, "tests")]
    assert "Camille" not in json.dumps(audit) and audit[0]["after"]["ledger_rows_cleared"] == 1


def test_a_later_alert_never_reaches_the_erased_person(app, client, staff, run_worker, stub):
    camille, hugo = staff
    assert client.post(f"/users/{camille.user_uuid}/erase").status_code == 200
    # An admin attaching the erased person again, by mistake, does not bring them back either.
    db.session.get(User, camille.id).locations = [hugo.locations[0]]
    db.session.commit()

    payload = posted_alert(client, run_worker)

    told = [message["target_user_uuid"] for message in stub.messages(payload["alert_uuid"])["messages"]]
    assert told == [hugo.user_uuid]


def test_an_erased_person_cannot_be_given_details_again(client, staff):
    camille, _ = staff
    assert client.post(f"/users/{camille.user_uuid}/erase").status_code == 200

    renamed = client.patch(f"/users/{camille.user_uuid}", json={"name": "Camille Durand"})
    readdressed = client.put(
        f"/users/{camille.user_uuid}/contact-points/sms", json={"address": "+33639980001"}
    )

    assert renamed.status_code == readdressed.status_code == 409
    assert renamed.json["errors"] == {
        "user_uuid": ["This user was erased: their details cannot be set again."]
    }
    assert client.get(f"/users/{camille.user_uuid}").json["name"] == pseudonym(camille.user_uuid)


def test_erasing_twice_is_a_conflict_and_an_unknown_user_is_not_found(client, staff):
    camille, _ = staff
    assert client.post(f"/users/{camille.user_uuid}/erase").status_code == 200

    again = client.post(f"/users/{camille.user_uuid}/erase")
    unknown = client.post("/users/6f1c3f1e-8a57-4a43-a2f8-2f7f4f1e0c11/erase")

    assert again.status_code == 409 and "already erased" in again.json["message"]
    assert again.json["errors"]["user_uuid"]
    assert unknown.status_code == 404 and unknown.json["message"] == "No user with this user_id."


def test_only_an_admin_erases(app, anonymous, staff):
    camille, _ = staff
    own = create_token(name="own", scopes=[PREFERENCES_SELF], user_uuid=camille.user_uuid).token

    assert anonymous.post(f"/users/{camille.user_uuid}/erase").status_code == 401
    assert bearer(app, own).post(f"/users/{camille.user_uuid}/erase").status_code == 403
    db.session.expire_all()
    assert db.session.get(User, camille.id).erased_at is None
