"""A camera vendor's receiver of outcome events on loopback, checking each Standard Webhooks signature."""

import json

from flask import Flask, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = "whsec_dmVuZG9yLXRlc3Qtc2VjcmV0LWtleQ=="


class Vendor:
    """Checks each event's signature and keeps what it got; answers `answers` first, then 204."""

    def __init__(self, serve_app):
        self.received: list[dict] = []
        self.answers: list[int] = []  # statuses to answer next, then 204
        app = Flask("vendor")

        @app.post("/outcomes")
        def receive():
            try:
                Webhook(SECRET).verify(request.get_data(), dict(request.headers), json_parse=False)
            except WebhookVerificationError as error:
                return {"error": str(error)}, 401
            if self.answers:
                return {"error": "try later"}, self.answers.pop(0)
            self.received.append({"id": request.headers["webhook-id"], **json.loads(request.get_data())})
            return "", 204

        self.url = serve_app(app) + "/outcomes"

    @property
    def events(self) -> list[dict]:
        """The events received, each webhook-id once: the vendor drops a repeat (its answer timed out)."""
        return list({event["id"]: event for event in self.received}.values())


def vendor_of(app, serve_app) -> Vendor:
    """A vendor receiver on loopback, and the app configured to send it its outcome events."""
    receiver = Vendor(serve_app)
    app.config.update(VENDOR_OUTCOME_URL=receiver.url, VENDOR_WEBHOOK_SECRET=SECRET)
    return receiver
