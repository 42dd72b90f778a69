"""The HTTP API: one blueprint per resource, documented in OpenAPI by flask-smorest."""

from flask import Flask
from flask_smorest import Api

from nootification.api import (
    alerts,
    audit,
    chat_buttons,
    claims,
    contact_points,
    deliveries,
    docs,
    health,
    locations,
    metrics,
    ops,
    personal_data,
    preferences,
    receipts,
    rosters,
    routes,
    silences,
    staff,
    staff_app,
    stats,
    templates,
    tickets,
    twilio_callbacks,
    users,
    web_push,
    webhooks,
)

BLUEPRINTS = (
    webhooks.blp,
    preferences.blp,
    alerts.blp,
    claims.blp,
    deliveries.blp,
    receipts.blp,
    locations.blp,
    silences.blp,
    rosters.blp,
    users.blp,
    personal_data.blp,
    contact_points.blp,
    routes.blp,
    templates.blp,
    stats.blp,
    audit.blp,
    web_push.blp,
    tickets.blp,
    health.blp,
    health.ready_blp,
)


def register_api(app: Flask) -> Api:
    """Register every blueprint; the OpenAPI document at `/openapi.json` covers all but `/metrics`, `/ops`,
    the staff page (`/s/<link>`) and the providers' callbacks (`/telegram/webhook`,
    `/slack/interactions`, `/webhooks/twilio/*`)."""
    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(docs.blp)
    app.register_blueprint(metrics.blp)
    app.register_blueprint(ops.blp)
    app.register_blueprint(staff.blp)
    app.register_blueprint(staff_app.blp)
    app.register_blueprint(chat_buttons.blp)
    app.register_blueprint(twilio_callbacks.blp)
    return api
