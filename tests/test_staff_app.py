"""The staff page as an app in headless Chromium: its manifest and service worker, "Alert me on this phone",
a Web Push alert shown as a notification, and "I'm on it" pressed on that notification.

Headless Chromium has no push service, so `PushManager.prototype.subscribe` alone is replaced in the page;
the push message is delivered to the service worker through DevTools, and a notification's button is pressed
by dispatching the `notificationclick` event in the worker.
"""

import json
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask

from nootification import senders
from nootification.extensions import db
from nootification.models import Alert, ContactPoint, User
from nootification.senders.webpush import b64url_decode
from nootification.staff.claims import claim
from tests.helpers.browser import DevTools, chromium, devtools_page, problems
from tests.helpers.factories import admin_client, alert_payload, stored_deliveries
from tests.helpers.processes import drain_queue
from tests.helpers.push import browser_subscription, new_vapid_key, subscribe
from tests.helpers.staff import CLAIM_STATE, sms_links

KEY_PATH = "/webpush/vapid-public-key"
SUBSCRIBE = "push-subscription"
PHONE_ALERTS_SHOWN = "!document.getElementById('phone-alerts').hidden"
ALERT_ME_RESULT = "document.getElementById('alert-me-result').textContent"
WORKER_READY = """navigator.serviceWorker.ready
  .then((r) => r.active.state === "activated" ? r
    : new Promise((activated) => r.active.addEventListener("statechange", () => activated(r))))
  .then((r) => [r.scope, r.active.scriptURL, r.active.state])"""
NOTIFICATIONS = """navigator.serviceWorker.ready
  .then((registration) => registration.getNotifications())
  .then((shown) => shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data,
    actions: n.actions.map((a) => [a.action, a.title]), requireInteraction: n.requireInteraction})))"""
# The page's only stand-in: the browser's subscription, with keys made by the test, and what it was asked.
SUBSCRIBE_STUB = """(() => {
  const subscription = %s;
  const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")),
                                         (c) => c.charCodeAt(0));
  PushManager.prototype.subscribe = async function (options) {
    window.subscribedWith = {userVisibleOnly: options.userVisibleOnly,
                             applicationServerKey: Array.from(new Uint8Array(options.applicationServerKey))};
    return {endpoint: subscription.endpoint, expirationTime: null, options,
            getKey: (name) => bytes(subscription.keys[name]).buffer, toJSON: () => subscription};
  };
})()"""
PRESS_IM_ON_IT = """self.registration.getNotifications({tag: %s}).then(([notification]) =>
  self.dispatchEvent(new NotificationEvent("notificationclick", {notification, action: "claim"})))"""


@pytest.fixture
def vapid_public_key(monkeypatch) -> str:
    """Web Push turned on with a new VAPID key; its public key, as the page gets it."""
    private, public = new_vapid_key()
    monkeypatch.setenv("WEBPUSH_VAPID_PRIVATE_KEY", private)
    return public


def origin_of(url: str) -> str:
    """The scheme, host and port of a URL."""
    return "{0.scheme}://{0.netloc}".format(urlsplit(url))


def open_staff_page(page: DevTools, link: str, subscription: dict | None = None) -> None:
    """Open a staff page with notifications allowed, the subscribe stand-in if given, and its worker ready."""
    origin = origin_of(link)
    for domain in ("Page", "Runtime", "Log", "Network", "ServiceWorker"):
        page.call(f"{domain}.enable")
    page.call_in(None, "Browser.grantPermissions", origin=origin, permissions=["notifications"])
    if subscription is not None:
        page.call("Page.addScriptToEvaluateOnNewDocument", source=SUBSCRIBE_STUB % json.dumps(subscription))
    page.call("Page.navigate", url=link)
    assert page.settled(CLAIM_STATE)
    assert page.evaluate(WORKER_READY) == [f"{origin}/s/", f"{origin}/s/sw.js", "activated"]


def alert_me(page: DevTools) -> str:
    """Press "Alert me on this phone" once it shows; what the page then says."""
    assert page.settled(PHONE_ALERTS_SHOWN) is True
    page.evaluate("document.getElementById('alert-me').click()")
    return page.settled(ALERT_ME_RESULT)


def registration_id(page: DevTools, scope: str) -> str:
    """The DevTools id of the service worker registration for this scope."""

    def live(update: dict) -> list[dict]:
        return [r for r in update["registrations"] if r["scopeURL"] == scope and not r["isDeleted"]]

    [registration] = live(
        page.event("ServiceWorker.workerRegistrationUpdated", lambda update: bool(live(update)))
    )
    return registration["registrationId"]


def post_alert(app: Flask, **fields) -> Alert:
    """Post an alert for the shop as the camera system does and send it out; the alert as stored."""
    client = admin_client(app)
    payload = alert_payload(**fields)
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    return db.session.scalars(db.select(Alert).filter_by(alert_uuid=payload["alert_uuid"])).one()


def user_named(name: str) -> User:
    """The stored member of staff of that name."""
    return db.session.scalars(db.select(User).filter_by(name=name)).one()


def web_push_point(user: User) -> ContactPoint | None:
    """The user's Web Push contact point as the database holds it now."""
    db.session.expire_all()
    return db.session.scalar(db.select(ContactPoint).filter_by(user_id=user.id, channel="webpush"))


def test_the_manifest_and_the_service_worker_are_served_with_their_types(
    channels_app, smtp_server, serve_app
):
    url, links = sms_links(channels_app, smtp_server, serve_app)
    link = links["Camille"]

    manifest = requests.get(f"{link}/manifest.webmanifest", timeout=10)
    assert manifest.status_code == 200
    assert manifest.headers["Content-Type"] == "application/manifest+json"
    document = manifest.json()
    # The app opens in the language of the person who installed it (an English shop's here).
    assert document["start_url"] == "/s/?locale=en"
    home = requests.get(f"{url}{document['start_url']}", timeout=5)
    assert home.status_code == 200 and "theft alerts as notifications" in home.text
    assert (document["scope"], document["id"], document["display"]) == ("/s/", "/s/", "standalone")
    assert document["name"] and document["short_name"] and document["theme_color"]
    for icon in document["icons"]:
        answer = requests.get(f"{url}{icon['src']}", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(icon["type"])

    worker = requests.get(f"{url}/s/sw.js", timeout=10)
    assert worker.status_code == 200
    assert worker.headers["Content-Type"].split(";")[0] == "application/javascript"
    assert worker.headers["Cache-Control"] == "no-cache"
    assert 'addEventListener("push"' in worker.text
    assert "connect-src 'self'" in worker.headers["Content-Security-Policy"]  # the worker's own policy

    page = requests.get(link, timeout=10)
    assert f'<link rel="manifest" href="{urlsplit(link).path}/manifest.webmanifest">' in page.text
    assert '<section id="phone-alerts" hidden>' in page.text  # without JavaScript, no button doing nothing
    policy = page.headers["Content-Security-Policy"]
    assert "worker-src 'self'" in policy and "manifest-src 'self'" in policy

    for bad in ("AAAA", "x" * 70):
        answer = requests.get(f"{url}/s/{bad}/manifest.webmanifest", timeout=10)
        assert answer.status_code == 404
        assert answer.json()["errors"] == {"link": ["This link is not valid."]}


def test_without_web_push_the_worker_registers_and_no_alerts_are_offered(
    channels_app, smtp_server, serve_app, tmp_path, monkeypatch
):
    monkeypatch.delenv("WEBPUSH_VAPID_PRIVATE_KEY", raising=False)
    binary = chromium()
    url, links = sms_links(channels_app, smtp_server, serve_app)

    with devtools_page(binary, tmp_path / "profile") as page:
        open_staff_page(page, links["Camille"])
        key = page.event("Network.responseReceived", lambda p: p["response"]["url"].endswith(KEY_PATH))
        assert key["response"]["status"] == 404
        page.evaluate("new Promise((later) => setTimeout(later, 200))")  # the script has read the answer
        assert page.evaluate(PHONE_ALERTS_SHOWN) is False

    assert [p for p in problems(page.events) if "clip.mp4" not in str(p)] == []


def test_alert_me_on_a_phone_that_was_turned_off_says_so_and_leaves_it_off(
    channels_app, smtp_server, serve_app, vapid_public_key, tmp_path
):
    binary = chromium()
    _, links = sms_links(channels_app, smtp_server, serve_app)
    subscription = browser_subscription()
    camille = user_named("Camille")
    turned_off = ContactPoint(
        channel="webpush", address=subscription["endpoint"], options=subscription["keys"], enabled=False
    )
    camille.contact_points.append(turned_off)
    db.session.commit()

    with devtools_page(binary, tmp_path / "profile") as page:
        open_staff_page(page, links["Camille"], subscription)
        said = alert_me(page)

    assert said == "Alerts to this phone were turned off: ask your manager to turn them back on."
    assert web_push_point(camille).enabled is False


def test_alert_me_on_this_phone_sends_the_subscription_to_the_links_user(
    channels_app, smtp_server, serve_app, vapid_public_key, tmp_path, capsys
):
    binary = chromium()
    _, links = sms_links(channels_app, smtp_server, serve_app)
    link = links["Camille"]
    subscription = browser_subscription()

    with devtools_page(binary, tmp_path / "profile") as page:
        open_staff_page(page, link, subscription)
        assert alert_me(page) == "This phone will get alerts."
        page.screenshot(tmp_path / "subscribed.png")
        asked = page.evaluate("window.subscribedWith")
        sent = page.event("Network.requestWillBeSent", lambda p: p["request"]["url"] == f"{link}/{SUBSCRIBE}")

    assert asked == {"userVisibleOnly": True, "applicationServerKey": list(b64url_decode(vapid_public_key))}
    assert sent["request"]["method"] == "POST" and json.loads(sent["request"]["postData"]) == subscription
    point = web_push_point(user_named("Camille"))
    assert point.enabled and point.address == subscription["endpoint"]
    assert point.options == subscription["keys"]
    assert [p for p in problems(page.events) if "clip.mp4" not in str(p)] == []
    with capsys.disabled():
        print(f"\nstaff app screenshot: {tmp_path / 'subscribed.png'}")


def test_a_refused_subscription_shows_the_reason_on_the_page(
    channels_app, smtp_server, serve_app, vapid_public_key, tmp_path
):
    binary = chromium()
    _, links = sms_links(channels_app, smtp_server, serve_app)
    subscription = browser_subscription()
    subscription["keys"]["auth"] = subscription["keys"]["auth"][:8]

    with devtools_page(binary, tmp_path / "profile") as page:
        open_staff_page(page, links["Camille"], subscription)
        shown = alert_me(page)
        assert page.evaluate("document.getElementById('alert-me-result').className") == "error"

    assert shown.endswith("Must be 16 bytes.")  # the server's message, and its reason
    assert web_push_point(user_named("Camille")) is None


# What the page and the worker say, by the shop's language: the worker's words come from the page.
WORDS = {
    "en": ("This phone will get alerts.", [["claim", "I'm on it"], ["open", "Open"]]),
    "fr-FR": ("Ce téléphone recevra les alertes.", [["claim", "J'y vais"], ["open", "Ouvrir"]]),
}


@pytest.mark.parametrize(
    ("locale", "first", "answer"),
    [
        ("en", None, "You are on it."),
        ("en", "Hugo", "Hugo is on it."),
        ("fr-FR", "Hugo", "Hugo s'en occupe."),
    ],
    ids=["free", "taken", "taken-in-french"],
)
def test_a_pushed_alert_is_shown_and_im_on_it_on_the_notification_claims_it(
    channels_app, smtp_server, serve_app, vapid_public_key, tmp_path, capsys, locale, first, answer
):
    binary = chromium()
    subscribed, actions = WORDS[locale]
    url, links = sms_links(channels_app, smtp_server, serve_app, locale)
    # Built again now: the Web Push sender takes PUBLIC_URL (the served app's, known only now) when built.
    senders.init_app(channels_app)
    subscription = subscribe(smtp_server.url, vapid_public_key)  # at the stub's push service

    with devtools_page(binary, tmp_path / "profile") as page:
        open_staff_page(page, links["Camille"], subscription)
        assert alert_me(page) == subscribed
        alert = post_alert(channels_app, label="theft", url=f"{url}/clip.mp4")
        [pushed] = smtp_server.messages(alert.alert_uuid, channel="webpush")["messages"]
        assert subscription["endpoint"].endswith(f"/{pushed['address']}")  # the stub names it by its id
        payload = pushed["payload"]
        assert payload["action_url"].startswith(f"{url}/s/") and payload["action_url"] != links["Camille"]

        registration = registration_id(page, f"{url}/s/")
        # The plaintext as the stub decrypted it from the sender's request: what the phone's browser gets.
        page.call(
            "ServiceWorker.deliverPushMessage", origin=url, registrationId=registration, data=pushed["text"]
        )
        [shown] = page.settled(NOTIFICATIONS)
        assert (shown["title"], shown["body"], shown["data"]) == (payload["title"], payload["body"], payload)
        assert shown["tag"] == alert.alert_uuid
        assert shown["requireInteraction"] is (payload["severity"] == "critical")
        assert shown["actions"] == actions

        if first:
            claim(alert, user_named(first))
        worker = page.attach_to("service_worker", f"{url}/s/sw.js")
        page.call_in(worker, "Runtime.enable")
        page.evaluate(PRESS_IM_ON_IT % json.dumps(alert.alert_uuid), session=worker)
        followed = page.settled(f"{NOTIFICATIONS}.then((shown) => shown.map((n) => [n.title, n.body]))")
        assert followed == [[answer, payload["title"]]]
        page.call("Page.navigate", url=payload["action_url"])
        assert page.settled(CLAIM_STATE) == answer
        page.screenshot(tmp_path / "claimed.png")

    db.session.expire_all()
    assert db.session.get(Alert, alert.id).claimed_by_id == user_named(first or "Camille").id
    [delivery] = [d for d in stored_deliveries() if d.id == payload["delivery_id"]]
    assert (delivery.channel, delivery.user_id) == ("webpush", user_named("Camille").id)
    assert delivery.delivered_at is not None and delivery.seen_at is not None
    # Dispatched by hand, the click is untrusted, so its waitUntil throws once the work is under way.
    thrown = [p for p in problems(page.events) if "clip.mp4" not in str(p)]
    assert ["script constructed" in p["exception"]["description"] for p in thrown] == [True], thrown
    with capsys.disabled():
        print(f"\nstaff app screenshot: {tmp_path / 'claimed.png'}")
