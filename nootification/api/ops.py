"""`/ops`: a live page of the latest alerts and their deliveries, fed by server-sent events (admin).

The page itself holds no data and needs no token; its script trades the admin token for a ticket
(`POST /ops/ticket`) and opens `/ops/events?ticket=...`. Each open stream holds a server thread (gunicorn
runs a few per process), so a stream ends after OPS_STREAM_SECONDS, the page reconnecting with a new
ticket, and a process refuses streams beyond OPS_MAX_STREAMS with 503: the API keeps threads for alerts.
Left out of the OpenAPI document, like `/metrics`: an HTML page and an event stream, not JSON.
"""

import json
import threading
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, render_template, stream_with_context, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import ServiceUnavailable

from nootification.api.schemas.ops import OpsAlertSchema
from nootification.auth import require_ticket
from nootification.models import utcnow
from nootification.services.ops import AlertState, watch_alerts
from nootification.services.roster import uncovered_shops
from nootification.services.tokens import ADMIN

blp = Blueprint("ops", __name__, url_prefix="/ops")

STREAM_SLOTS = "nootification.ops-streams"
RECONNECT_MILLISECONDS = 3000
BUSY_RETRY_SECONDS = 5


@blp.record_once
def _create_stream_slots(state: BlueprintSetupState) -> None:
    state.app.extensions[STREAM_SLOTS] = threading.BoundedSemaphore(state.app.config["OPS_MAX_STREAMS"])


@blp.get("", strict_slashes=False)
def page() -> str:
    """The page: a token form and the latest alerts, which its script fills and keeps current."""
    return render_template(
        "ops.html",
        recent=current_app.config["OPS_RECENT_ALERTS"],
        ticket_url=url_for("tickets.create_ticket"),
        events_url=url_for("ops.events"),
    )


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class _StreamSlot:
    """One of the process's stream slots, given back once, by whichever comes first: the stream's end or
    the response's close (the server may close it only once the client hangs up, or never start it)."""

    def __init__(self, slots: threading.BoundedSemaphore):
        self._slots = slots
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        """Give the slot back, if not given back already."""
        with self._lock:
            if self._held:
                self._held = False
                self._slots.release()


def _events(feed: Iterator[list[AlertState]], slot: _StreamSlot) -> Iterator[str]:
    schema = OpsAlertSchema()
    try:
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
        yield _event("snapshot", {"alerts": schema.dump(next(feed), many=True)})
        uncovered = uncovered_shops(utcnow())
        yield _event("shops", {"uncovered": uncovered})
        for changed in feed:
            for state in changed:
                yield _event("alert", schema.dump(state))
            if (now_uncovered := uncovered_shops(utcnow())) != uncovered:
                uncovered = now_uncovered
                yield _event("shops", {"uncovered": uncovered})
            elif not changed:
                # Writing on every poll is how a closed page is noticed (the write fails), its thread freed.
                yield ": keep-alive\n\n"
        yield _event("end", {"reconnect": True})
    finally:
        slot.release()


@blp.get("/events")
def events() -> Response:
    """Server-sent events: `snapshot` (the latest alerts), `shops` (the open shops with nobody on shift, at
    first and when that changes), `alert` (one new or changed), then `end`."""
    require_ticket(ADMIN)
    slots = current_app.extensions[STREAM_SLOTS]
    if not slots.acquire(blocking=False):
        raise ServiceUnavailable(
            "Too many ops streams are open on this process; try again shortly.",
            retry_after=BUSY_RETRY_SECONDS,
        )
    slot = _StreamSlot(slots)
    config = current_app.config
    feed = watch_alerts(
        limit=config["OPS_RECENT_ALERTS"],
        poll_interval=config["OPS_POLL_INTERVAL"],
        duration=config["OPS_STREAM_SECONDS"],
    )
    response = Response(stream_with_context(_events(feed, slot)), mimetype="text/event-stream")
    response.call_on_close(slot.release)
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must pass events on as they come
    return response
