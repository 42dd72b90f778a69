"""Small builders of test data, shared by every test module."""

import time
import uuid

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from nootification.extensions import db
from nootification.models import Delivery, Level, Location, User
from nootification.senders.base import Message
from nootification.services.tokens import ADMIN, create_token


def make_location(name: str = "fr-auchan-larochelle", **fields) -> Location:
    """A stored shop."""
    location = Location(name=name, display_name=fields.pop("display_name", name), **fields)
    db.session.add(location)
    db.session.commit()
    return location


def make_user(*locations: Location, level: Level = Level.CRITICAL, **fields) -> User:
    """A stored member of staff attached to the given shops."""
    user = User(user_uuid=str(uuid.uuid4()), level=level, locations=list(locations), **fields)
    db.session.add(user)
    db.session.commit()
    return user


def alert_payload(location: str = "fr-auchan-larochelle", **fields) -> dict:
    """A valid webhook body in the original wire format; fields override."""
    payload = {
        "url": f"https://media.example.com/{uuid.uuid4()}.mp4",
        "location": location,
        "alert_uuid": str(uuid.uuid4()),
        "label": "theft",
        "time_spotted": time.time() - 5,
    }
    payload.update(fields)
    return payload


def stored_deliveries() -> list[Delivery]:
    """Every delivery as the database holds it now, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Delivery).order_by(Delivery.created_at, Delivery.id)))


def stored_delivery() -> Delivery:
    """The one delivery in the database, as it holds it now."""
    [delivery] = stored_deliveries()
    return delivery


def make_message(**fields) -> Message:
    """A rendered message about one alert, as a sender receives it; fields override."""
    values = {
        "delivery_id": str(uuid.uuid4()),
        "user_uuid": str(uuid.uuid4()),
        "address": None,
        "alert_uuid": str(uuid.uuid4()),
        "url": "https://media.example.com/b36006d7.mp4",
        "location": "fr-auchan-larochelle",
        "label": "theft",
        "severity": "critical",
        "time_spotted": 1742470260.083,
        "subject": "Theft at Auchan La Rochelle",
        "body": "A theft was spotted at 14:31 by camera 3.\n\nPlease check the shop floor.",
    }
    values.update(fields)
    return Message(**values)


def fail_next(status: int, times: int = 1, **settings) -> dict:
    """Stub control settings that make the next `times` requests answer `status`."""
    return {"fail_next": times, "fail_next_status": status, **settings}


def stats_figures(client) -> dict:
    """`GET /stats` over the last week without its window's bounds: the figures alone, to compare."""
    stats = client.get("/stats", query_string={"window": 7 * 24 * 3600}).json
    return {name: value for name, value in stats.items() if name not in ("since", "until")}


def bearer(app: Flask, token: str) -> FlaskClient:
    """A test client presenting this bearer token."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def admin_client(app: Flask) -> FlaskClient:
    """A test client with an admin token of its own."""
    return bearer(app, create_token(name="t", scopes=[ADMIN]).token)


def post_alert(app: Flask, **fields) -> dict:
    """Post a valid alert (fields override) as the camera system does; the webhook's 201 answer."""
    answer = admin_client(app).post("/webhooks/alerts", json=alert_payload(**fields))
    assert answer.status_code == 201, answer.json
    return answer.json
