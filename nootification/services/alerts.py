"""Stored alerts, as the API and the dead-letter tools read them."""

import sqlalchemy as sa

from nootification.errors import NotFound
from nootification.extensions import db
from nootification.models import Alert


def get_alert(alert_uuid: str) -> Alert:
    """The stored alert with this uuid."""
    alert = db.session.scalar(sa.select(Alert).where(Alert.alert_uuid == alert_uuid))
    if alert is None:
        raise NotFound("No alert with this alert_uuid.")
    return alert
