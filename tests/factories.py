"""Small builders of test data, shared by every test module."""

import time
import uuid

import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Delivery, Level, Location, User


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
