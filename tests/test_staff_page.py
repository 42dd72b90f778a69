"""The staff page in headless Chromium: a link from a real SMS, "I'm on it", a colleague's page updating."""

import requests

from tests.helpers.browser import chromium, devtools_page, problems
from tests.helpers.staff import CLAIM_STATE, sms_links


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
