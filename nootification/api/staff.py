"""`/s/<link>`: the staff page behind each message's action link, mobile first, no login beyond the link.

It shows the alert (shop, label, time spotted in the shop's timezone, the clip), who else was told and who
is on it, with the buttons "I'm on it" and the outcome. Plain form posts, so it works without JavaScript;
its script re-reads `/s/<link>/state` every few seconds. A link may be forwarded or seen on a screenshot, so
it shows colleagues by name only (no ids, channels or addresses), and an outcome someone else recorded stays
theirs (409 naming them). Left out of the OpenAPI document, like `/ops`: an
HTML page and its forms (the JSON equivalents are `POST /alerts/<uuid>/claim` and `/outcome`).
"""

import zoneinfo
from functools import partial

from flask import Blueprint, Response, redirect, render_template, request, url_for
from marshmallow import ValidationError

from nootification.api.schemas.claims import LinkStateSchema, OutcomeInSchema
from nootification.api.schemas.contact_points import ContactPointSchema
from nootification.api.schemas.web_push import PushSubscriptionInSchema
from nootification.errors import Conflict, Gone, InvalidInput, accepts_form
from nootification.i18n import best_language, language, local_day, local_time_with_seconds, translate
from nootification.i18n import mark as _
from nootification.models import UNNAMED_STAFF, Alert, Outcome, User
from nootification.security import limit_staff_routes
from nootification.services.directory import language_of
from nootification.services.templates import label_text
from nootification.staff.claims import (
    ADMIN_AUTHOR,
    claim,
    claim_state,
    outcome_author,
    record_outcome,
    staff_alert_of_link,
)
from nootification.staff.receipts import record_opened
from nootification.staff.web_push import subscribe

blp = Blueprint("staff", __name__, url_prefix="/s")
limit_staff_routes(blp)

STATE_POLL_MILLISECONDS = 5000
OUTCOME_CHOICES = (
    (Outcome.THEFT_STOPPED, _("Theft stopped")),
    (Outcome.THEFT_NOT_STOPPED, _("Theft not stopped")),
    (Outcome.FALSE_ALARM, _("False alarm")),
    (Outcome.NOT_FOUND, _("Nobody found")),
)
# The page's notices, and the names shown for people the page cannot name.
RECORDED = _("Thank you: the outcome is recorded.")
TAKEN = _("%(holder)s is already on it.")
OUTCOME_TAKEN = _("%(holder)s already recorded what happened: only they or an admin may change it.")
NAMELESS = (_(UNNAMED_STAFF), _(ADMIN_AUTHOR))
# Why the outcome form was refused, by field: the form's own words rather than the schema's.
FORM_FIELDS = {
    "outcome": (_("Outcome"), _("choose what happened.")),
    "value_recovered": (_("Value recovered"), _("a number, 0 or more.")),
    "note": (_("Note"), _("500 characters at most.")),
}
# What the page's script writes itself, by its key in the page's `texts` block (static/staff.js).
SCRIPT_TEXTS = {
    "yours": _("You are on it."),
    "theirs": _("%(holder)s is on it."),
    "nobody": _("Nobody is on it yet."),
    "not_reached": _("(not reached yet)"),
    "blocked": _("Notifications are blocked for this page: allow them in the browser's settings."),
    "subscribed": _("This phone will get alerts."),
    "turned_off": _("Alerts to this phone were turned off: ask your manager to turn them back on."),
    "cannot": _("This phone cannot get alerts: %(reason)s"),
    "refused": _("The server refused (%(status)s)."),
}
# What the app's service worker writes (static/staff-sw.js), handed to it by the page.
WORKER_TEXTS = {
    "claim": _("I'm on it"),
    "open": _("Open"),
    "yours": _("You are on it."),
    "theirs": _("%(holder)s is on it."),
    "lost": _("The claim did not get through: open the alert to try again."),
}


def person_shown(locale: str, name: str | None) -> str:
    """A person's name on the page, the words for a nameless colleague or an admin in the page's language."""
    return translate(locale, name) if name in NAMELESS else name or ""


def script_texts(locale: str) -> dict[str, str]:
    """The script's texts in `locale`, with its own placeholders (`%(holder)s`) left for it to fill, the
    names of nameless people it may be sent, and the service worker's texts for the script to hand over."""
    texts: dict = {key: translate(locale, text) for key, text in SCRIPT_TEXTS.items()}
    texts["names"] = {name: translate(locale, name) for name in NAMELESS}
    texts["worker"] = {key: translate(locale, text) for key, text in WORKER_TEXTS.items()}
    texts["worker"]["names"] = texts["names"]
    return texts


def form_errors(invalid: ValidationError, locale: str) -> str:
    """Why the outcome form was refused, field by field, in `locale`."""
    reasons = []
    for name, errors in invalid.messages.items():
        field, reason = FORM_FIELDS.get(name, (name, ""))
        reason = translate(locale, reason) if reason else " ".join(map(str, errors))
        reasons.append(f"{translate(locale, field)}: {reason}")
    return "; ".join(reasons)


def _page(link: str, alert: Alert, user: User, *, notice: str = "", error: str = "", status: int = 200):
    locale = language_of(user, alert.location)
    timezone = alert.location.timezone
    spotted = alert.time_spotted.astimezone(zoneinfo.ZoneInfo(timezone))
    page = render_template(
        "staff.html",
        _=partial(translate, locale),
        lang=language(locale),
        person=partial(person_shown, locale),
        script_texts=script_texts(locale),
        label_text=label_text(alert.label, locale),
        alert=alert,
        state=claim_state(alert, user),
        spotted=spotted,
        spotted_time=local_time_with_seconds(alert.time_spotted, locale, timezone),
        spotted_day=local_day(alert.time_spotted, locale, timezone),
        outcomes=[(value, translate(locale, text)) for value, text in OUTCOME_CHOICES],
        notice=translate(locale, notice) if notice else "",
        error=error,
        link=link,
        state_url=url_for("staff.state", link=link),
        opened_url=url_for("staff.opened", link=link),
        poll=STATE_POLL_MILLISECONDS,
    )
    return Response(page, status=status, mimetype="text/html")


@blp.get("/<link>")
def page(link: str):
    """The alert as this member of staff sees it, with what they can do; a plain page (410) once the link
    expired or the alert is past its retention."""
    try:
        alert, user = staff_alert_of_link(link)
    except Gone as gone:
        # An expired link names nobody any more: the browser's language it is.
        locale = best_language(request.accept_languages)
        page = render_template(
            "staff-gone.html", _=partial(translate, locale), lang=locale, reason=gone.message
        )
        return Response(page, status=410, mimetype="text/html")
    return _page(link, alert, user, notice=request.args.get("notice", ""))


@blp.get("/<link>/state")
def state(link: str):
    """Who is on it, what happened and who was told, as JSON (the page's script polls it)."""
    alert, user = staff_alert_of_link(link)
    return LinkStateSchema().dump(claim_state(alert, user))


@blp.post("/<link>/opened")
def opened(link: str):
    """The page's script says a person opened it in a browser (a link preview runs no script): their later
    steps of the shop's ladder are not needed."""
    alert, user = staff_alert_of_link(link)
    record_opened(alert, user)
    return "", 204


@blp.post("/<link>/claim")
@accepts_form
def claim_from_page(link: str):
    """Press "I'm on it": back to the page, which says who is on it."""
    alert, user = staff_alert_of_link(link)
    try:
        claim(alert, user)
    except Conflict:
        locale = language_of(user, alert.location)
        holder = person_shown(locale, alert.claimed_by.shown_name if alert.claimed_by else UNNAMED_STAFF)
        notice = translate(locale, TAKEN, holder=holder)
        return redirect(url_for("staff.page", link=link, notice=notice), code=303)
    return redirect(url_for("staff.page", link=link), code=303)


@blp.post("/<link>/outcome")
@accepts_form
def outcome_from_page(link: str):
    """Record what happened from the page's form; the page again, with the error if the form was wrong or
    someone else recorded the outcome (a client that prefers JSON gets the JSON error)."""
    alert, user = staff_alert_of_link(link)
    fields = {name: value for name, value in request.form.items() if value.strip()}
    try:
        posted = OutcomeInSchema().load(fields)
    except ValidationError as invalid:
        return _page(
            link, alert, user, error=form_errors(invalid, language_of(user, alert.location)), status=422
        )
    try:
        record_outcome(alert, user, **posted)
    except Conflict:
        if request.accept_mimetypes.best_match(("application/json", "text/html")) != "text/html":
            raise
        locale = language_of(user, alert.location)
        holder = person_shown(locale, outcome_author(alert))
        return _page(link, alert, user, error=translate(locale, OUTCOME_TAKEN, holder=holder), status=409)
    return redirect(url_for("staff.page", link=link, notice=RECORDED), code=303)


@blp.post("/<link>/push-subscription")
def subscribe_to_web_push(link: str):
    """Alert me on this phone: keep the browser's push subscription (`PushSubscription.toJSON()`) as the
    link's user's Web Push contact point; 201 with it, 422 when the subscription is not valid."""
    _, user = staff_alert_of_link(link)
    try:
        subscription = PushSubscriptionInSchema().load(request.get_json(silent=True) or {})
    except ValidationError as invalid:
        raise InvalidInput("The push subscription is not valid.", errors=invalid.messages) from None
    return ContactPointSchema().dump(subscribe(user, subscription)), 201
