"""The staff page as an app to install on a phone: its service worker and its web app manifest.

The service worker is served at `/s/sw.js` rather than under `/static/`: a worker's default scope is the
folder of its script, and `/s/` covers every staff page (Werkzeug matches this fixed path before `/s/<link>`).
It shows the Web Push alerts and claims from the notification. `/s/` is where the installed app opens. Out of
the OpenAPI document, like the page.
"""

import json
from functools import partial

from flask import Blueprint, Response, current_app, render_template, request, url_for

from nootification.i18n import best_language, is_shipped, language, translate
from nootification.i18n import mark as _
from nootification.security import limit_staff_routes
from nootification.services.directory import language_of
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
# The installed app's names, in the person's language.
NAME = _("Nootification: theft alerts")
SHORT_NAME = _("Theft alerts")
DESCRIPTION = _("Theft alerts from the shop's cameras, and who is on them.")


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
    expires with the alert, so it cannot be the app's start). In the language its manifest's start URL names
    (the person's who installed it), else the browser's."""
    asked = request.args.get("locale", "")
    locale = asked if is_shipped(asked) else best_language(request.accept_languages)
    page = render_template("staff-home.html", _=partial(translate, locale), lang=language(locale))
    return Response(page, mimetype="text/html")


@blp.get("/<link>/manifest.webmanifest")
def manifest(link: str):
    """The web app manifest of the staff page this link opens, for "Add to home screen"."""
    alert, user = staff_alert_of_link(link)
    locale = language_of(user, alert.location)
    document = {
        # One app for every link: without an id, each alert's page would install as an app of its own.
        "id": LINK_PATH,
        "name": translate(locale, NAME),
        "short_name": translate(locale, SHORT_NAME),
        "description": translate(locale, DESCRIPTION),
        "lang": language(locale),
        "start_url": url_for("staff_app.home", locale=locale),
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
