"""The staff page in headless Chromium: a link from a real SMS, "I'm on it", a colleague's page updating."""

import re

import requests
from rq import SimpleWorker

from nootification.extensions import redis_queue
from nootification.models import Level
from nootification.rq_json import JOB_FORMAT
from nootification.services.tokens import ADMIN, create_token
from tests.browser import chromium, devtools_page, problems
from tests.factories import alert_payload, make_location, make_user

CLAIM_STATE = "document.getElementById('claim-state')?.textContent.trim()"
LINK = re.compile(r"https?://\S+/s/[A-Za-z0-9_-]+")


def sms_links(channels_app, smtp_server, serve_app) -> tuple[str, dict[str, str]]:
    """Serve the API, send a theft alert to Camille and Hugo by SMS; the API's URL and each one's link."""
    url = serve_app(channels_app)
    channels_app.config["PUBLIC_URL"] = url
    client = channels_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(name='t', scopes=[ADMIN]).token}"
    shop = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris")
    phones = {"Camille": "+33612345678", "Hugo": "+33698765432"}
    for name, phone in phones.items():
        user = make_user(shop, level=Level.STANDARD, name=name)
        client.put(f"/users/{user.user_uuid}/contact-points/sms", json={"address": phone})
    payload = alert_payload(label="theft", url=f"{url}/clip.mp4")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    SimpleWorker([redis_queue.queue], connection=redis_queue.connection, **JOB_FORMAT).work(burst=True)
    texts = {m["address"]: m["text"] for m in smtp_server.messages(channel="sms")["messages"]}
    return url, {name: LINK.search(texts[phone]).group() for name, phone in phones.items()}


def test_a_link_from_an_sms_opens_the_page_and_im_on_it_claims_the_alert(
    channels_app, smtp_server, serve_app, tmp_path, capsys
):
    binary = chromium()
    _, links = sms_links(channels_app, smtp_server, serve_app)

    with devtools_page(binary, tmp_path / "profile") as page:
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=links["Camille"])
        assert page.settled(CLAIM_STATE) == "Nobody is on it yet."
        page.screenshot(tmp_path / "before.png")
        shown = page.evaluate("document.body.innerText")
        assert "Auchan La Rochelle" in shown and "Who was told\nCamille\nHugo" in shown
        assert "sms" not in shown and "+336" not in shown  # colleagues by name only

        page.evaluate("document.querySelector('#claim-form button').click()")
        assert page.settled(CLAIM_STATE) == "You are on it."
        assert page.evaluate("document.getElementById('claim-form').hidden") is True
        page.screenshot(tmp_path / "after.png")

    # The clip is a made-up URL on the API, which answers 404: the page itself has no other error.
    assert [p for p in problems(page.events) if "clip.mp4" not in str(p)] == []
    assert (tmp_path / "after.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with capsys.disabled():
        print(f"\nstaff page screenshots: {tmp_path / 'before.png'} {tmp_path / 'after.png'}")


def test_a_colleagues_open_page_shows_who_is_on_it_without_a_reload(
    channels_app, smtp_server, serve_app, tmp_path
):
    binary = chromium()
    _, links = sms_links(channels_app, smtp_server, serve_app)

    with devtools_page(binary, tmp_path / "profile") as page:
        page.call("Page.enable")
        page.call("Page.navigate", url=links["Hugo"])
        assert page.settled(CLAIM_STATE) == "Nobody is on it yet."
        page.evaluate("window.loadedOnce = true")
        claimed = requests.post(f"{links['Camille']}/claim", timeout=10, allow_redirects=False)
        assert claimed.status_code == 303
        assert page.settled(f"{CLAIM_STATE} === 'Camille is on it.' && {CLAIM_STATE}", timeout=20)
        assert page.evaluate("window.loadedOnce") is True  # the same page, updated by its script
        assert page.evaluate("document.getElementById('claim-form').hidden") is True
