"""`/locations/<name>/roster`: who is on shift at a shop, so that only they hear of its alerts (admin)."""

from flask import request
from flask_smorest import Blueprint

from nootification.api.schemas.rosters import RosterImportSchema, RosterSchema
from nootification.auth import require_scope
from nootification.errors import accepts_media
from nootification.security import body_limit, request_body
from nootification.services import roster
from nootification.services.roster_formats import CSV, ICALENDAR, MEDIA_TYPES
from nootification.services.tokens import ADMIN

blp = Blueprint(
    "rosters", __name__, url_prefix="/locations", description="A shop's roster: who is on shift (admin)"
)
blp.before_request(require_scope(ADMIN))

ROSTER_BODY = {
    "required": True,
    "description": "The whole roster, replacing the one stored. UTF-8 text; times ISO 8601 in the shop's "
    "timezone unless they carry an offset (UTC, TZID or floating in iCalendar); at most "
    f"{roster.MAX_SHIFTS} shifts and {roster.MAX_BYTES // 1024} KiB.",
    "content": {
        CSV: {
            "schema": {"type": "string"},
            "example": "user,start,end\ncamille@example.com,2027-03-28T08:00,2027-03-28T16:00\n",
        },
        ICALENDAR: {
            "schema": {"type": "string"},
            "example": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//shop//rota//EN\r\nBEGIN:VEVENT\r\n"
            "UID:1\r\nDTSTART;TZID=Europe/Paris:20270328T080000\r\n"
            "DTEND;TZID=Europe/Paris:20270328T160000\r\nATTENDEE:mailto:camille@example.com\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n",
        },
    },
}


@blp.route("/<path:name>/roster", methods=["PUT"])
@accepts_media(*MEDIA_TYPES)
@body_limit(roster.MAX_BYTES)
@blp.doc(requestBody=ROSTER_BODY)
@blp.response(200, RosterImportSchema)
@blp.alt_response(404, description="No location with this name.")
@blp.alt_response(413, description=f"Over {roster.MAX_BYTES // 1024} KiB or {roster.MAX_SHIFTS} shifts.")
@blp.alt_response(415, description="Not text/csv nor text/calendar.")
@blp.alt_response(
    422,
    description="Refused whole, each problem under its line or event and field (`line 3.start`, "
    "`event 2.ATTENDEE`): unreadable, an unknown person, one not attached to the shop or erased, an end "
    "not after its start.",
)
def replace_roster(name: str):
    """Replace a shop's roster whole (CSV or iCalendar): from then on only the people on shift are told."""
    return roster.replace_roster(name, body=request_body(), media_type=request.mimetype)


@blp.route("/<path:name>/roster", methods=["GET"])
@blp.response(200, RosterSchema)
@blp.alt_response(404, description="No location with this name.")
def read_roster(name: str):
    """A shop's roster: its current and upcoming shifts."""
    return roster.roster_of(name)


@blp.route("/<path:name>/roster", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No location with this name.")
def delete_roster(name: str):
    """Take a shop's roster away: everyone attached is told of its alerts again."""
    roster.remove_roster(name)
