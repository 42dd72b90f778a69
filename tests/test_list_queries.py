"""The lists read what their items show in a fixed number of statements, however many items they hold."""

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Level
from nootification.services.ops import recent_alerts
from tests.helpers.factories import alert_payload, make_location, make_user

SHOP = "fr-auchan-larochelle"


@pytest.fixture
def count_statements(app) -> Callable[[Callable[[], object]], int]:
    """How many SQL statements a call makes."""

    def count(call: Callable[[], object]) -> int:
        statements = []

        def seen(*_args) -> None:
            statements.append(1)

        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            call()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
        return len(statements)

    return count


def staff_with_an_alert_each(client, shop, how_many: int) -> None:
    """`how_many` more members of staff, each with an SMS number, and one alert to the whole shop."""
    for _ in range(how_many):
        user = make_user(shop, level=Level.STANDARD)
        put = client.put(f"/users/{user.user_uuid}/contact-points/sms", json={"address": "+33612345678"})
        assert put.status_code == 200, put.json
    assert client.post("/webhooks/alerts", json=alert_payload(SHOP)).status_code == 201


@pytest.mark.parametrize("path", ["/deliveries", f"/users?location={SHOP}"])
def test_a_list_of_twice_the_items_takes_as_many_statements(client, count_statements, path):
    shop = make_location(SHOP)
    staff_with_an_alert_each(client, shop, 2)
    few = client.get(path).json
    statements_for_few = count_statements(lambda: client.get(path))

    staff_with_an_alert_each(client, shop, 4)
    many = client.get(path).json
    statements_for_many = count_statements(lambda: client.get(path))

    items = (lambda page: page["items"]) if path == "/deliveries" else (lambda users: users)
    assert len(items(many)) >= 2 * len(items(few)) > 0
    assert statements_for_many == statements_for_few


def test_the_ops_pages_recent_alerts_take_as_many_statements_for_more_alerts(client, count_statements):
    shop = make_location(SHOP)
    staff_with_an_alert_each(client, shop, 2)
    statements_for_one = count_statements(lambda: recent_alerts(limit=20))
    staff_with_an_alert_each(client, shop, 1)
    staff_with_an_alert_each(client, shop, 1)
    assert len(recent_alerts(limit=20)) == 3
    assert count_statements(lambda: recent_alerts(limit=20)) == statements_for_one


def test_the_ops_pages_group_size_is_counted_without_loading_the_bursts_alerts(app, client):
    app.config["GROUP_WINDOW_SECONDS"] = 120
    make_user(make_location(SHOP), level=Level.STANDARD)
    for _ in range(4):
        assert client.post("/webhooks/alerts", json=alert_payload(SHOP, label="theft")).status_code == 201
    db.session.expunge_all()
    loaded = []

    def on_load(alert, _context) -> None:
        loaded.append(alert)

    sa.event.listen(Alert, "load", on_load)
    try:
        [newest] = recent_alerts(limit=1)
    finally:
        sa.event.remove(Alert, "load", on_load)
    assert (newest.quiet, newest.group_size, len(loaded)) == ("grouped", 4, 1)
