"""Staff as tests play them: their action links from sent alerts, and clients with their own tokens."""

import re
from urllib.parse import urlsplit

from nootification.models import Level
from nootification.services.tokens import PREFERENCES_SELF, create_token
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.processes import drain_queue

CLAIM_STATE = "document.getElementById('claim-state')?.textContent.trim()"
LINK = re.compile(r"https?://\S+/s/[A-Za-z0-9_-]+")


def sent_alert(client, stub) -> tuple[dict, dict[str, str]]:
    """Post an alert, deliver it, and return it with each recipient's action link as the stub got it."""
    payload = alert_payload(label="theft", time_spotted=1742470260.0)
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    messages = stub.messages(payload["alert_uuid"])["messages"]
    return payload, {message["target_user_uuid"]: message["action_url"] for message in messages}


def path_of(link: str) -> str:
    """The path of a link, to open it with a test client."""
    return urlsplit(link).path


def user_client(app, user):
    """A test client with the user's own preferences:self token."""
    token = create_token(name=user.name, scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid).token
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def sms_links(channels_app, smtp_server, serve_app, locale: str = "en") -> tuple[str, dict[str, str]]:
    """Serve the API, send a theft alert of a shop in `locale` to Camille and Hugo by SMS; the API's URL and
    each one's link."""
    url = serve_app(channels_app)
    channels_app.config["PUBLIC_URL"] = url
    client = admin_client(channels_app)
    shop = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris", locale=locale)
    phones = {"Camille": "+33612345678", "Hugo": "+33698765432"}
    for name, phone in phones.items():
        user = make_user(shop, level=Level.STANDARD, name=name)
        client.put(f"/users/{user.user_uuid}/contact-points/sms", json={"address": phone})
    payload = alert_payload(label="theft", url=f"{url}/clip.mp4")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    texts = {m["address"]: m["text"] for m in smtp_server.messages(channel="sms")["messages"]}
    return url, {name: LINK.search(texts[phone]).group() for name, phone in phones.items()}
