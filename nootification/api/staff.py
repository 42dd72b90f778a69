"""`/s/<link>`: the staff page behind each message's action link, mobile first, no login beyond the link.

It shows the alert (shop, label, time spotted in the shop's timezone, the clip), who else was told and who
is on it, with the buttons "I'm on it" and the outcome. Plain form posts, so it works without JavaScript;
its script re-reads `/s/<link>/state` every few seconds. A link may be forwarded or seen on a screenshot, so
it shows colleagues by name only (no ids, channels or addresses), and an outcome someone else recorded stays
theirs (409 naming them). Left out of the OpenAPI document, like `/ops`: an
HTML page and its forms (the JSON equivalents are `POST /alerts/<uuid>/claim` and `/outcome`).
"""

import zoneinfo

from flask import Blueprint, Response, redirect, render_template, request, url_for
from marshmallow import ValidationError

from nootification.api.schemas.claims import LinkStateSchema, OutcomeInSchema
from nootification.api.schemas.contact_points import ContactPointSchema
from nootification.api.schemas.web_push import PushSubscriptionInSchema
from nootification.errors import Conflict, Gone, InvalidInput, accepts_form
from nootification.models import Alert, Outcome, User
from nootification.security import limit_staff_routes
from nootification.staff.claims import claim, claim_state, record_outcome, staff_alert_of_link
from nootification.staff.receipts import record_opened
from nootification.staff.web_push import subscribe

blp = Blueprint("staff", __name__, url_prefix="/s")
limit_staff_routes(blp)

STATE_POLL_MILLISECONDS = 5000
OUTCOME_CHOICES = (
    (Outcome.THEFT_STOPPED, "Theft stopped"),
    (Outcome.THEFT_NOT_STOPPED, "Theft not stopped"),
    (Outcome.FALSE_ALARM, "False alarm"),
    (Outcome.NOT_FOUND, "Nobody found"),
)


def _page(link: str, alert: Alert, user: User, *, notice: str = "", error: str = "", status: int = 200):
    spotted = alert.time_spotted.astimezone(zoneinfo.ZoneInfo(alert.location.timezone))
    page = render_template(
        "staff.html",
        alert=alert,
        state=claim_state(alert, user),
        spotted=spotted,
        outcomes=OUTCOME_CHOICES,
        notice=notice,
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
        page = render_template("staff-gone.html", reason=gone.message)
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
    except Conflict as taken:
        return redirect(url_for("staff.page", link=link, notice=taken.message), code=303)
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
        messages = invalid.messages.items()
        reasons = "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in messages)
        return _page(link, alert, user, error=reasons, status=422)
    try:
        record_outcome(alert, user, **posted)
    except Conflict as recorded:
        if request.accept_mimetypes.best_match(("application/json", "text/html")) != "text/html":
            raise
        return _page(link, alert, user, error=recorded.message, status=409)
    return redirect(url_for("staff.page", link=link, notice="Thank you: the outcome is recorded."), code=303)


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
