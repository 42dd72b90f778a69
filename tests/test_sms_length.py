"""Alert SMS as the engine sends them to a French shop with a 40-character name: two segments at most, by the
segment counter, with the video link and the action link whole."""

import re

import pytest
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Level, Location, User
from nootification.senders.segments import segments
from nootification.staff.claims import claim
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.processes import drain_queue

# 40 characters; `ô` is outside GSM-7, `é` is in it.
SHOP = "Hypermarché Côte-Saint-André La Rochelle"
PUBLIC_URL = "https://alertes.enseigne-exemple.fr"
ACTION = re.compile(re.escape(PUBLIC_URL) + r"/s/[A-Za-z0-9_-]{70}$", re.MULTILINE)
PRESIGNED = (
    "https://clips-eu-west-3.s3.eu-west-3.amazonaws.com/cam-12/2026/03/20/{uuid}.mp4"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260320%2Feu-west-3%2Fs3"
    "%2Faws4_request&X-Amz-Date=20260320T113100Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=" + "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
)


@pytest.fixture
def french_shop(channels_app):
    """A French shop with a 40-character name, two French members of staff on SMS, every demo label routed to
    SMS, and a public URL as long as a real one."""
    assert len(SHOP) == 40
    channels_app.config["PUBLIC_URL"] = PUBLIC_URL
    client = admin_client(channels_app)
    shop = make_location(display_name=SHOP, timezone="Europe/Paris")
    for name, phone in (("Camille", "+33612345678"), ("Hugo", "+33698765432")):
        user = make_user(shop, level=Level.STANDARD, name=name, locale="fr")
        assert (
            client.put(f"/users/{user.user_uuid}/contact-points/sms", json={"address": phone}).status_code
            == 200
        )
    for label in channels_app.config["ALERT_LABELS"]:
        assert client.post("/routes", json={"label": label, "channels": ["sms"]}).status_code == 201
    return client


def sent_sms(stub) -> list[str]:
    return [message["text"] for message in stub.messages(channel="sms")["messages"]]


def test_every_alert_sms_takes_two_segments_at_most_with_its_links_whole(
    channels_app, smtp_server, french_shop
):
    payloads = [alert_payload(label=label) for label in channels_app.config["ALERT_LABELS"]]
    for payload in payloads:
        assert french_shop.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()

    texts = sent_sms(smtp_server)
    assert len(texts) == 2 * len(payloads)
    for text in texts:
        assert segments(text) <= 2, text
        assert sum(payload["url"] in text.split("\n") for payload in payloads) == 1, text
        assert len(ACTION.findall(text)) == 1, text
        # The name keeps at least 16 characters, spelt in GSM-7; the template's own `é` and `à` stay.
        assert "repéré à Hypermarché Cote" in text, text
        # How to answer, in French, as the last line, whole.
        assert text.endswith("\nRépondez 1 si vous y allez"), text


def test_a_clip_url_too_long_for_two_segments_gives_way_to_the_action_link(
    channels_app, smtp_server, french_shop
):
    payload = alert_payload(label="theft")
    payload["url"] = PRESIGNED.format(uuid=payload["alert_uuid"])
    assert french_shop.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()

    for text in sent_sms(smtp_server):
        assert segments(text) <= 2, text
        assert payload["url"] not in text
        assert len(ACTION.findall(text)) == 1, text
        assert text.startswith("Vol à Hypermarché Cote-Saint-André La Rochelle\n"), text


def test_a_claim_follow_up_by_sms_takes_two_segments_at_most(channels_app, smtp_server, french_shop):
    db.session.scalars(sa.select(Location)).one().claim_follow_up = True
    db.session.commit()
    payload = alert_payload(label="theft")
    assert french_shop.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    camille = db.session.scalars(sa.select(User).where(User.name == "Camille")).one()
    claim(db.session.scalars(sa.select(Alert)).one(), camille)
    drain_queue()

    [follow_up] = [text for text in sent_sms(smtp_server) if text.startswith("Pris en charge : Camille\n")]
    assert segments(follow_up) <= 2, follow_up
    assert follow_up.endswith(f"\n{payload['url']}")
