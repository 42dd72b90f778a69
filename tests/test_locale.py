"""A shop's locale: set and shown through the API, checked against the catalogs we ship, audited, loaded from
the demo data; a member of staff's own locale wins, and none means their shop's."""

from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from nootification import extensions
from nootification.delivery.lease import load
from nootification.i18n import is_shipped, locale_for
from nootification.models import AuditEntry, Delivery, User
from nootification.services.directory import language_of
from nootification.services.seed import load_data
from tests.helpers.factories import alert_payload, make_location, make_user

SHOP = "fr-auchan-larochelle"
DEMO = Path(__file__).resolve().parent.parent / "nootification" / "data" / "demo.json"


@pytest.fixture
def shop(client) -> dict:
    answer = client.post("/locations", json={"name": SHOP, "timezone": "Europe/Paris"})
    assert answer.status_code == 201
    return answer.json


def test_a_shop_speaks_english_unless_told_and_its_locale_can_be_changed(client, shop):
    assert shop["locale"] == "en"
    answer = client.patch(f"/locations/{SHOP}", json={"locale": "fr-FR"})
    assert answer.status_code == 200 and answer.json["locale"] == "fr-FR"
    assert client.get(f"/locations/{SHOP}").json["locale"] == "fr-FR"
    created = client.post("/locations", json={"name": "Carrefour", "locale": "fr"})
    assert created.status_code == 201 and created.json["locale"] == "fr"


def test_a_locale_change_is_in_the_audit_log(client, db, shop):
    client.patch(f"/locations/{SHOP}", json={"locale": "fr-FR"})
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "location.update").order_by(AuditEntry.id.desc())
    )
    assert entry.before["locale"] == "en" and entry.after["locale"] == "fr-FR"


@pytest.mark.parametrize("locale", ["de-DE", "xx", "fr_FR!", "", "français", 7])
def test_a_locale_without_a_catalog_is_refused_and_nothing_changes(client, shop, locale):
    answer = client.patch(f"/locations/{SHOP}", json={"locale": locale, "timezone": "UTC"})
    assert answer.status_code == 422
    assert list(answer.json["errors"]) == ["locale"]
    assert client.get(f"/locations/{SHOP}").json["timezone"] == "Europe/Paris"


def test_the_shipped_locales_are_english_and_french_in_any_region():
    assert all(is_shipped(tag) for tag in ("en", "en-GB", "fr", "fr-FR", "fr-CA"))
    assert not any(is_shipped(tag) for tag in ("de", "es-ES", "zz", "-", "fr-ZZZZZ"))


def test_a_persons_own_locale_wins_and_none_means_their_shops():
    assert locale_for(None, "fr-FR") == "fr-FR"
    assert locale_for("en", "fr-FR") == "en"
    assert locale_for(None, None) == "en"


def test_a_user_created_without_a_locale_follows_the_shop_and_can_go_back_to_it(client, db, shop):
    client.patch(f"/locations/{SHOP}", json={"locale": "fr-FR"})
    user = client.post("/users", json={"name": "Camille", "locations": [SHOP]}).json
    assert user["locale"] is None
    assert client.patch(f"/users/{user['user_uuid']}", json={"locale": "en"}).json["locale"] == "en"
    assert client.patch(f"/users/{user['user_uuid']}", json={"locale": None}).json["locale"] is None


def test_the_demo_shops_are_french_and_their_staff_read_it(app, db):
    load_data(DEMO)
    shops = db.session.scalars(sa.text("SELECT locale FROM locations")).all()
    assert shops and set(shops) == {"fr-FR"}
    staff = db.session.scalars(sa.text("SELECT id FROM users")).all()
    assert staff
    assert {language_of(db.session.get(User, user_id)) for user_id in staff} == {"fr-FR"}


def test_the_engine_sees_the_shops_locale_beside_the_persons(client, db, run_worker):
    shop = make_location(SHOP, locale="fr-FR", timezone="Europe/Paris")
    make_user(shop, name="Camille")
    make_user(shop, name="Sam", locale="en")
    assert client.post("/webhooks/alerts", json=alert_payload()).status_code == 201
    ids = db.session.scalars(sa.select(Delivery.id)).all()
    leased = load(db.session, ids)
    assert leased
    assert {delivery.alert.location.locale for delivery in leased} == {"fr-FR"}
    assert {delivery.user.locale for delivery in leased} == {None, "en"}


def test_upgrading_leaves_the_default_english_to_the_shop_and_keeps_a_chosen_language(app):
    flask_migrate.upgrade(revision="0022_voice")
    try:
        with db_engine(app).begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO locations (id, name, display_name, timezone) "
                    "VALUES (1, 'shop', 'Shop', 'UTC')"
                )
            )
            for user_id, locale in ((1, "en"), (2, "fr")):
                connection.execute(
                    sa.text(
                        "INSERT INTO users (id, user_uuid, name, level, locale) "
                        f"VALUES ({user_id}, 'u-{user_id}', 'x', 'standard', '{locale}')"
                    )
                )
        flask_migrate.upgrade()
        with db_engine(app).connect() as connection:
            users = connection.execute(sa.text("SELECT id, locale FROM users ORDER BY id")).all()
            shops = connection.execute(sa.text("SELECT locale FROM locations")).scalars().all()
        assert [tuple(row) for row in users] == [(1, None), (2, "fr")]
        assert shops == ["en"]
        flask_migrate.downgrade(revision="0022_voice")
        with db_engine(app).connect() as connection:
            users = connection.execute(sa.text("SELECT id, locale FROM users ORDER BY id")).all()
        assert [tuple(row) for row in users] == [(1, "en"), (2, "fr")]
    finally:
        flask_migrate.downgrade(revision="base")
        with db_engine(app).begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def db_engine(app):
    return extensions.db.engine
