"""The staff page as an app to install on a phone: its service worker and its web app manifest.

The service worker is served at `/s/sw.js` rather than under `/static/`: a worker's default scope is the
folder of its script, and `/s/` covers every staff page (Werkzeug matches this fixed path before `/s/<link>`).
It shows the Web Push alerts and claims from the notification. `/s/` is where the installed app opens. Out of
the OpenAPI document, like the page.
"""

import json

from flask import Blueprint, Response, current_app, render_template, url_for

from nootification.security import limit_staff_routes
from nootification.services.staff_links import LINK_PATH
from nootification.staff.claims import staff_alert_of_link

blp = Blueprint("staff_app", __name__, url_prefix="/s")
limit_staff_routes(blp)

SERVICE_WORKER = "staff-sw.js"
ICON = "staff-icon.svg"
ICON_192 = "staff-icon-192.png"
# The page's colours (staff.css): the title bar's ink and the page's paper.
THEME_COLOUR = "#1d2330"
BACKGROUND_COLOUR = "#f7f8fa"


@blp.get("/sw.js")
def service_worker():
    """The staff app's service worker; browsers check for a new one on each visit (no-cache)."""
    response = current_app.send_static_file(SERVICE_WORKER)
    response.mimetype = "application/javascript"
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.get("/")
def home():
    """Where the installed app opens: alerts come as notifications, each opening its own page (whose link
    expires with the alert, so it cannot be the app's start)."""
    return Response(render_template("staff-home.html"), mimetype="text/html")


@blp.get("/<link>/manifest.webmanifest")
def manifest(link: str):
    """The web app manifest of the staff page this link opens, for "Add to home screen"."""
    staff_alert_of_link(link)
    document = {
        # One app for every link: without an id, each alert's page would install as an app of its own.
        "id": LINK_PATH,
        "name": "Nootification: theft alerts",
        "short_name": "Theft alerts",
        "description": "Theft alerts from the shop's cameras, and who is on them.",
        "start_url": url_for("staff_app.home"),
        "scope": LINK_PATH,
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": url_for("static", filename=ICON), "sizes": "any", "type": "image/svg+xml"},
            {"src": url_for("static", filename=ICON_192), "sizes": "192x192", "type": "image/png"},
        ],
    }
    return Response(json.dumps(document), mimetype="application/manifest+json")
