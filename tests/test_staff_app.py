"""The staff page as an app in headless Chromium: its manifest and service worker, "Alert me on this phone",
a Web Push alert shown as a notification, and "I'm on it" pressed on that notification."""

import json
import time
from urllib.parse import urlsplit

import requests

from nootification.extensions import db
from nootification.models import Alert, User
from tests.browser import DevTools, chromium, devtools_page, problems
from tests.factories import stored_deliveries
from tests.test_staff_page import sms_links

PHONE_ALERTS_HIDDEN = "document.getElementById('phone-alerts').hidden"
WORKER_READY = "navigator.serviceWorker.ready.then((r) => [r.scope, r.active.scriptURL, r.active.state])"
NOTIFICATIONS = """navigator.serviceWorker.ready
  .then((r) => r.getNotifications())
  .then((shown) => shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data,
                                      actions: n.actions, requireInteraction: n.requireInteraction})))"""


def open_staff_page(page: DevTools, link: str) -> None:
    """Open a staff page with notifications allowed for its origin, and wait for its service worker."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(link))
    for domain in ("Page", "Runtime", "Log", "ServiceWorker"):
        page.call(f"{domain}.enable")
    page.call_in(None, "Browser.grantPermissions", origin=origin, permissions=["notifications"])
    page.call("Page.navigate", url=link)
    page.settled("document.readyState === 'complete'")
    assert page.evaluate(WORKER_READY) == [f"{origin}/s/", f"{origin}/s/sw.js", "activated"]


def registration_id(page: DevTools, scope: str) -> str:
    """The DevTools id of the service worker registration for this scope."""
    update = page.event(
        "ServiceWorker.workerRegistrationUpdated",
        lambda params: any(r["scopeURL"] == scope and not r["isDeleted"] for r in params["registrations"]),
    )
    return next(r["registrationId"] for r in update["registrations"] if r["scopeURL"] == scope)


def alert_of(link: str) -> Alert:
    """The alert a staff link is about, as the database holds it now."""
    db.session.expire_all()
    return db.session.scalars(db.select(Alert)).one()


def test_the_manifest_and_the_service_worker_are_served_with_their_types(
    channels_app, smtp_server, serve_app
):
    url, links = sms_links(channels_app, smtp_server, serve_app)
    link = links["Camille"]

    manifest = requests.get(f"{link}/manifest.webmanifest", timeout=10)
    assert manifest.status_code == 200
    assert manifest.headers["Content-Type"] == "application/manifest+json"
    document = manifest.json()
    assert document["start_url"] == urlsplit(link).path
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
    assert "worker-src 'self'" in worker.headers["Content-Security-Policy"]

    page = requests.get(link, timeout=10)
    assert f'<link rel="manifest" href="{urlsplit(link).path}/manifest.webmanifest">' in page.text
    assert '<section id="phone-alerts" hidden>' in page.text  # without JavaScript, no button doing nothing
    assert "manifest-src 'self'" in page.headers["Content-Security-Policy"]

    for bad in ("AAAA", "x" * 70):
        answer = requests.get(f"{url}/s/{bad}/manifest.webmanifest", timeout=10)
        assert answer.status_code == 404
        assert answer.json()["errors"] == {"link": ["This link is not valid."]}


def test_the_page_registers_its_service_worker_and_offers_no_alerts_without_web_push(
    channels_app, smtp_server, serve_app, tmp_path
):
    binary = chromium()
    _, links = sms_links(channels_app, smtp_server, serve_app)

    with devtools_page(binary, tmp_path / "profile") as page:
        open_staff_page(page, links["Camille"])
        time.sleep(0.5)  # the key's request has had its answer
        assert page.evaluate(PHONE_ALERTS_HIDDEN) is True

    assert [p for p in problems(page.events) if "clip.mp4" not in str(p) and "vapid" not in str(p)] == []


def test_a_pushed_alert_is_shown_and_im_on_it_on_the_notification_claims_it(
    channels_app, smtp_server, serve_app, tmp_path, capsys
):
    binary = chromium()
    url, links = sms_links(channels_app, smtp_server, serve_app)
    link = links["Camille"]
    alert = alert_of(link)
    camille = db.session.scalars(db.select(User).filter_by(name="Camille")).one()
    [delivery] = [d for d in stored_deliveries() if d.user_id == camille.id and d.channel == "sms"]
    payload = {
        "title": "Theft at Auchan La Rochelle",
        "body": "A theft was spotted at 14:31.",
        "alert_uuid": alert.alert_uuid,
        "delivery_id": delivery.id,
        "severity": alert.severity.value,
        "location": alert.location.name,
        "label": alert.label,
        "time_spotted": alert.time_spotted.timestamp(),
        "video_url": alert.url,
        "action_url": link,
        "receipt_url": f"{url}/deliveries/{delivery.id}/receipt",
    }

    with devtools_page(binary, tmp_path / "profile") as page:
        open_staff_page(page, link)
        registration = registration_id(page, f"{url}/s/")
        page.call("ServiceWorker.deliverPushMessage", origin=url, registrationId=registration,
                  data=json.dumps(payload))  # fmt: skip
        [shown] = page.settled(NOTIFICATIONS)
        assert shown["title"] == payload["title"] and shown["body"] == payload["body"]
        assert shown["tag"] == alert.alert_uuid and shown["data"] == payload
        assert [a["action"] for a in shown["actions"]] == ["claim", "open"]
        assert [a["title"] for a in shown["actions"]] == ["I'm on it", "Open"]

        worker = page.attach_to("service_worker", f"{url}/s/sw.js")
        page.evaluate(
            """self.registration.getNotifications().then(([notification]) => self.dispatchEvent(
                 new NotificationEvent("notificationclick", {notification, action: "claim"})))""",
            session=worker,
        )
        followed = page.settled(f"{NOTIFICATIONS}.then((shown) => shown.map((n) => n.title))")
        assert followed == ["You are on it."]

    assert alert_of(link).claimed_by_id == camille.id
