"""The ops page: tickets, the event stream and its limits, and the page itself in headless Chromium."""

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa
from flask import Flask, request, request_started

from nootification import create_app
from nootification.api.ops import STREAM_SLOTS
from nootification.auth import issue_ticket
from nootification.extensions import db as _db
from nootification.models import Alert, ContactPoint, Level, Outcome, User
from nootification.security import OPS_CSP
from nootification.services.tokens import PREFERENCES_SELF, create_token, revoke_token
from nootification.staff.claims import claim, record_outcome
from nootification.staff.escalation import escalate
from nootification.staff.receipts import ReceiptState, record_receipt
from tests.helpers.browser import CHROMIUM_FLAGS, chromium
from tests.helpers.config import make_config
from tests.helpers.factories import alert_payload, make_location, make_user

OPS_PAGE_FLAGS = (
    *CHROMIUM_FLAGS,
    # Virtual time stands still while the event stream is open, so the page is captured once the
    # server ends the stream, before the page's reconnection (1 s later) begins.
    "--virtual-time-budget=500",
    # Without it, a screenshot under virtual time now and then waits for a frame that never comes.
    "--run-all-compositor-stages-before-draw",
)


def read_events(response: requests.Response) -> Iterator[tuple[str, str]]:
    """(event, data) of each server-sent event as it arrives; a comment line comes as ("comment", text)."""
    name, data = "message", []
    for line in response.iter_lines(chunk_size=None, decode_unicode=True):
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            yield name, "\n".join(data)
            name, data = "message", []


@contextmanager
def ops_events(url: str, client) -> Iterator[Iterator[tuple[str, str]]]:
    """The ops page's event stream of the app served at `url`, opened with a ticket for the client's token."""
    with requests.get(
        f"{url}/ops/events", params={"ticket": ticket_for(client)}, stream=True, timeout=10
    ) as response:
        assert response.status_code == 200
        yield read_events(response)


def next_event(events: Iterator[tuple[str, str]], name: str) -> dict:
    """The data of the next event called `name`, skipping comments and the shops' coverage."""
    for event, data in events:
        if event == name:
            return json.loads(data)
        assert event in ("comment", "shops"), (event, data)
    raise AssertionError(f"the stream ended before a {name} event")


def wait_for_streams_to_close(app: Flask, timeout: float = 30) -> None:
    """Block until no event stream of the app is open, so the database is not dropped under one."""
    slots = app.extensions[STREAM_SLOTS]
    taken = 0
    try:
        while taken < app.config["OPS_MAX_STREAMS"]:
            assert slots.acquire(timeout=timeout), f"an event stream stayed open:\n{thread_stacks()}"
            taken += 1
    finally:
        for _ in range(taken):
            slots.release()


def thread_stacks() -> str:
    """Where each thread of this process stands, to tell what holds a stream that does not end."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    return "\n".join(
        f"-- {names.get(ident, ident)}\n{''.join(traceback.format_stack(frame))}"
        for ident, frame in sys._current_frames().items()
    )


@pytest.fixture
def served(app, db, serve_app) -> Iterator[Callable[[Flask], str]]:
    """Serve an app over loopback HTTP with short streams; waits for its streams to close at teardown."""
    apps: list[Flask] = []

    def serve(flask_app: Flask) -> str:
        flask_app.config.update(OPS_STREAM_SECONDS=3.0, OPS_POLL_INTERVAL=0.1)
        apps.append(flask_app)
        return serve_app(flask_app)

    yield serve
    for flask_app in apps:
        wait_for_streams_to_close(flask_app)


def ticket_for(client) -> str:
    response = client.post("/ops/ticket")
    assert response.status_code == 201, response.json
    return response.json["ticket"]


def set_tiers(client, shop: str, *tiers: list[User]) -> None:
    """Make these people the shop's escalation tiers 2, 3, ... through the API."""
    escalation = [[user.user_uuid for user in tier] for tier in tiers]
    answer = client.patch(f"/locations/{quote(shop, safe='')}", json={"escalation": escalation})
    assert answer.status_code == 200, answer.json


def post_alert(client, payload: dict) -> None:
    """Send the alert to the webhook."""
    assert client.post("/webhooks/alerts", json=payload).status_code == 201


def stored_alert(payload: dict) -> Alert:
    """The alert the webhook stored for this payload, read afresh from the database."""
    query = sa.select(Alert).filter_by(alert_uuid=payload["alert_uuid"])
    return _db.session.scalars(query.execution_options(populate_existing=True)).one()


def take_step(payload: dict, after: float) -> None:
    """Take the alert's next escalation step `after` s past its receipt, as a sweep would."""
    alert = stored_alert(payload)
    assert escalate(alert, alert.received_at + timedelta(seconds=after))


def test_the_page_is_a_shell_served_with_its_own_strict_csp(anonymous):
    page = anonymous.get("/ops")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == OPS_CSP
    assert "'unsafe-inline'" not in OPS_CSP and "script-src 'self'" in OPS_CSP
    html = page.get_data(as_text=True)
    assert 'src="/static/ops.js"' in html and 'href="/static/ops.css"' in html
    assert "//" not in html  # nothing from another host
    for asset in ("/static/ops.js", "/static/ops.css"):
        assert anonymous.get(asset).status_code == 200
    assert "default-src 'none'" in anonymous.get("/ops/events").headers["Content-Security-Policy"]


def test_a_ticket_needs_an_admin_token(client, anonymous):
    assert anonymous.post("/ops/ticket").status_code == 401
    user = make_user(make_location())
    own = create_token(name="self", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid).token
    assert anonymous.post("/ops/ticket", headers={"Authorization": f"Bearer {own}"}).status_code == 403
    response = client.post("/ops/ticket")
    assert response.status_code == 201
    assert response.json["expires_in"] == 60
    assert response.json["ticket"].count(".") == 2


def test_no_ticket_without_a_secret_key(app, client):
    app.config["SECRET_KEY"] = None
    response = client.post("/ops/ticket")
    assert response.status_code == 503
    assert "SECRET_KEY" in response.json["message"]


def test_the_stream_refuses_a_missing_forged_expired_or_revoked_ticket(app, client, anonymous, admin_token):
    def status(ticket: str | None) -> int:
        return anonymous.get("/ops/events", query_string={"ticket": ticket} if ticket else {}).status_code

    valid = ticket_for(client)
    token_id, expires, signature = valid.split(".")
    assert status(None) == 401
    assert status(f"{token_id}.{int(expires) + 3600}.{signature}") == 401  # a longer life, not signed
    assert status(f"{token_id}.{expires}.{'0' * 64}") == 401
    admin = create_token(name="spare admin", scopes=["admin"]).record
    assert status(issue_ticket(admin, now=time.time() - 61)) == 401
    user = make_user(make_location())
    own = create_token(name="self", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid).record
    assert status(issue_ticket(own)) == 403
    ticket = issue_ticket(admin)
    revoke_token(admin.id)
    assert status(ticket) == 401


def test_a_ticket_signed_with_our_key_but_expiring_past_the_ticket_lifetime_is_refused(anonymous):
    # As one minted with a stolen key would be: its signature is right, its expiry a day away.
    admin = create_token(name="spare admin", scopes=["admin"]).record
    far = issue_ticket(admin, now=time.time() + 24 * 3600)
    response = anonymous.get("/ops/events", query_string={"ticket": far}, buffered=False)
    response.close()
    assert response.status_code == 401
    assert "further ahead" in response.json["message"]


def test_the_stream_sends_a_snapshot_then_each_change_then_ends(app, client, run_worker, served):
    make_user(make_location(), level=Level.STANDARD, name="Camille")
    first = alert_payload()
    client.post("/webhooks/alerts", json=first)
    url = served(app)
    with requests.get(
        f"{url}/ops/events", params={"ticket": ticket_for(client)}, stream=True, timeout=10
    ) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = read_events(r)
        [alert] = next_event(events, "snapshot")["alerts"]
        assert alert["alert_uuid"] == first["alert_uuid"]
        [delivery] = alert["deliveries"]
        assert (delivery["channel"], delivery["user"], delivery["status"]) == ("push", "Camille", "queued")

        run_worker()
        changes = [next_event(events, "alert")]
        # The engine commits its lease before it sends: the stream may show "sending" on the way to "sent".
        while changes[-1]["deliveries"][0]["status"] == "sending":
            changes.append(next_event(events, "alert"))
        assert {change["alert_uuid"] for change in changes} == {first["alert_uuid"]}
        assert changes[-1]["deliveries"][0]["status"] == "sent"

        second = alert_payload(label="suspicious")
        client.post("/webhooks/alerts", json=second)
        new = next_event(events, "alert")
        assert (new["alert_uuid"], new["label"], new["severity"]) == (
            second["alert_uuid"],
            "suspicious",
            "standard",
        )
        assert new["deliveries"][0]["status"] == "queued"

        rest = list(events)
    assert ("comment", "keep-alive") in rest
    assert rest[-1] == ("end", '{"reconnect":true}')


def test_the_stream_sends_what_the_phone_reports(app, client, run_worker, served, stub):
    make_user(make_location(), level=Level.STANDARD, name="Camille")
    payload = alert_payload()
    client.post("/webhooks/alerts", json=payload)
    run_worker()
    [message] = stub.messages(payload["alert_uuid"])["messages"]
    link = message["action_url"].rsplit("/", 1)[1]
    with ops_events(served(app), client) as events:
        [shown] = next_event(events, "snapshot")["alerts"]
        assert (shown["deliveries"][0]["delivered_at"], shown["deliveries"][0]["seen_at"]) == (None, None)

        receipt = {"state": "seen", "link": link}
        assert client.post(f"/deliveries/{message['delivery_id']}/receipt", json=receipt).status_code == 200
        [delivery] = next_event(events, "alert")["deliveries"]
        assert delivery["delivered_at"] is not None and delivery["seen_at"] is not None


def test_the_stream_sends_each_escalation_step_the_claim_and_the_outcome(app, client, served):
    shop = make_location()
    camille = make_user(shop, level=Level.CRITICAL, name="Camille")
    marc = make_user(level=Level.CRITICAL, name="Marc")
    # Push switched off: the step that reaches this tier tells nobody, so only the step itself changes.
    security = make_user(name="Sécurité Ouest", contact_points=[ContactPoint(channel="push", enabled=False)])
    set_tiers(client, shop.name, [marc], [security])
    payload = alert_payload()
    post_alert(client, payload)
    with ops_events(served(app), client) as events:
        [shown] = next_event(events, "snapshot")["alerts"]
        assert (shown["claimed_by"], shown["escalation_step"], shown["escalations"]) == (None, 0, [])
        assert shown["next_escalation_at"] is not None and shown["outcome"] is None

        take_step(payload, after=61)
        stepped = next_event(events, "alert")
        assert [(step["step"], step["tier"]) for step in stepped["escalations"]] == [(1, 2)]
        assert (stepped["escalation_step"], stepped["next_escalation_at"] is None) == (1, False)
        steps = {(delivery["user"], delivery["escalation_step"]) for delivery in stepped["deliveries"]}
        assert steps == {("Camille", 0), ("Marc", 1)}

        take_step(payload, after=121)
        last_step = next_event(events, "alert")
        assert [(step["step"], step["tier"]) for step in last_step["escalations"]] == [(1, 2), (2, 3)]
        assert (last_step["escalation_step"], last_step["next_escalation_at"]) == (2, None)
        assert last_step["deliveries"] == stepped["deliveries"]  # the step alone is the change

        claim(stored_alert(payload), camille)
        claimed = next_event(events, "alert")
        assert (claimed["claimed_by"], claimed["outcome"]) == ("Camille", None)
        assert claimed["claimed_at"] is not None

        outcome = {"outcome": Outcome.THEFT_STOPPED, "value_recovered": 45.5, "note": "Two bottles"}
        record_outcome(stored_alert(payload), marc, **outcome)
        recorded = next_event(events, "alert")
        assert (recorded["outcome"], recorded["value_recovered"], recorded["outcome_note"]) == (
            "theft_stopped",
            45.5,
            "Two bottles",
        )
        assert (recorded["outcome_by"], recorded["claimed_by"]) == ("Marc", "Camille")
        assert recorded["outcome_at"] is not None


def test_streams_beyond_the_limit_of_a_process_get_503_until_one_closes(app, db, client, served):
    config = make_config(
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        OPS_MAX_STREAMS=1,
    )
    url = served(create_app(config))
    events = f"{url}/ops/events"
    with requests.get(events, params={"ticket": ticket_for(client)}, stream=True, timeout=10) as first:
        # Held while the second asks: a dropped reader would close the connection, and the stream with it.
        stream = read_events(first)
        next_event(stream, "snapshot")
        refused = requests.get(events, params={"ticket": ticket_for(client)}, timeout=10)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
    deadline = time.monotonic() + 10
    while (
        again := requests.get(events, params={"ticket": ticket_for(client)}, timeout=10)
    ).status_code == 503:
        assert time.monotonic() < deadline, "the closed stream's slot was not given back"
        time.sleep(0.1)
    assert again.status_code == 200


def test_a_stream_gives_its_slot_back_when_it_ends_though_the_client_keeps_the_connection_open(
    app, db, client, served
):
    config = make_config(
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        OPS_MAX_STREAMS=1,
    )
    url = served(create_app(config))
    host, port = url.removeprefix("http://").split(":")
    request_line = f"GET /ops/events?ticket={ticket_for(client)} HTTP/1.1"
    with socket.create_connection((host, int(port)), timeout=10) as held_open:
        held_open.sendall(f"{request_line}\r\nHost: {host}\r\n\r\n".encode())
        received = held_open.recv(65536)
        # A byte sent while the stream runs keeps the test server reading the connection after the
        # response until the client hangs up: the slot must not wait for that.
        held_open.sendall(b".")
        while b"event: end" not in received:
            chunk = held_open.recv(65536)
            assert chunk, "the stream closed before its end event"
            received += chunk
        deadline = time.monotonic() + 2
        while (
            again := requests.get(f"{url}/ops/events", params={"ticket": ticket_for(client)}, timeout=10)
        ).status_code == 503:
            assert time.monotonic() < deadline, "the ended stream's slot waits for its connection to close"
            time.sleep(0.1)
    assert again.status_code == 200


class OpsPage(HTMLParser):
    """What the rendered page shows: per alert row its class, its delivery statuses and escalation steps and
    the texts of its cells by class ({"claim unclaimed": ["unclaimed"]}); the update count, the connection."""

    def __init__(self, dom: str):
        super().__init__()
        self.alerts: dict[str, list[str]] = {}
        self.rows: dict[str, str] = {}
        self.steps: dict[str, list[int]] = {}
        self.cells: dict[str, dict[str, list[str]]] = {}
        self.updates: int | None = None
        self.connection = ""
        self._row: str | None = None
        self._cell: str | None = None
        self._in_connection = False
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("data-alert-uuid"):
            self._row = attributes["data-alert-uuid"]
            self.rows[self._row] = attributes.get("class") or ""
            self.alerts[self._row], self.steps[self._row], self.cells[self._row] = [], [], {}
        elif tag == "td" and self._row and attributes.get("class"):
            self._cell = attributes["class"]
            self.cells[self._row][self._cell] = []
        elif tag == "li" and self._row and attributes.get("data-delivery-id"):
            self.alerts[self._row].append(attributes["data-status"] or "")
            self.steps[self._row].append(int(attributes.get("data-escalation-step") or -1))
        elif attributes.get("id") == "updates":
            self.updates = int(attributes["data-count"] or 0)
        self._in_connection = attributes.get("id") == "connection"

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_connection:
            self.connection += data
        if self._row and self._cell:
            self.cells[self._row][self._cell].append(data)


def open_in_chromium(binary: str, profile: Path, url: str, *action: str) -> subprocess.Popen:
    """Start headless Chromium on `url` with a new empty profile; `action` is --dump-dom or --screenshot."""
    profile.mkdir()
    command = [binary, *OPS_PAGE_FLAGS, f"--user-data-dir={profile}", *action, url]
    # Its own process group: Chromium's helper processes are stopped with it if it has to be killed.
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(browser: subprocess.Popen, timeout: float = 60) -> str:
    """Chromium's output once it exits by itself; killed with its helpers and failed after `timeout` s."""
    try:
        output, errors = browser.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(browser.pid, signal.SIGKILL)
        _, errors = browser.communicate()
        pytest.fail(f"chromium did not finish within {timeout} s: {errors[-2000:]}")
    assert browser.returncode == 0, errors[-2000:]
    return output


SHOP_AS_SENT = "L'Épicerie d'Élise & Fils <Nord>"


def test_the_page_in_chromium_shows_alerts_their_deliveries_claims_steps_and_outcomes_live(
    app, client, admin_token, run_worker, served, tmp_path, capsys
):
    binary = chromium()
    shop = make_location(SHOP_AS_SENT)
    camille = make_user(shop, level=Level.STANDARD, name="Camille")
    hugo = make_user(shop, level=Level.CRITICAL, name="Hugo")
    set_tiers(client, SHOP_AS_SENT, [make_user(level=Level.CRITICAL, name="Marc")])
    theft, unattended = alert_payload(SHOP_AS_SENT, label="theft"), alert_payload(SHOP_AS_SENT, label="theft")
    post_alert(client, theft)
    post_alert(client, unattended)
    # The token rides in the fragment, which the page keeps in sessionStorage and the server never sees.
    page = f"{served(app)}/ops#token={admin_token}"

    stream_opened = threading.Event()

    def note_stream(sender: Flask, **extra) -> None:
        if request.path == "/ops/events":
            stream_opened.set()

    with request_started.connected_to(note_stream, app):
        browser = open_in_chromium(binary, tmp_path / "live", page, "--dump-dom")
        opened = stream_opened.wait(timeout=30)
        if opened:
            time.sleep(0.5)  # the snapshot, two thefts with two queued deliveries each, is on its way
            take_step(unattended, after=61)  # Marc is told
            run_worker()
            suspicious = alert_payload(SHOP_AS_SENT, label="suspicious")
            post_alert(client, suspicious)
            run_worker()
            claim(stored_alert(theft), hugo)
            record_outcome(
                stored_alert(suspicious), camille, outcome=Outcome.THEFT_STOPPED, value_recovered=45.5
            )
            [hugos] = [d.id for d in stored_alert(theft).deliveries if d.user_id == hugo.id]
            record_receipt(hugos, ReceiptState.SEEN, user_uuid=hugo.user_uuid)
        dom = finish(browser)
    assert opened, "the page never opened its event stream"

    shown = OpsPage(dom)
    assert shown.alerts == {
        suspicious["alert_uuid"]: ["sent"],
        unattended["alert_uuid"]: ["sent", "sent", "sent"],
        theft["alert_uuid"]: ["sent", "sent"],
    }
    assert shown.updates is not None and shown.updates >= 3  # each alert changed after the snapshot
    assert "Camille" in dom and "Hugo" in dom
    # A critical alert nobody is on is marked so (the page's style makes it stand out), with its step and
    # the delivery that step made.
    unattended_cells = shown.cells[unattended["alert_uuid"]]
    assert shown.rows[unattended["alert_uuid"]] == "severity-critical"
    assert unattended_cells["claim unclaimed"] == ["unclaimed"]
    [step] = unattended_cells["escalation"]
    assert step.startswith("tier 2 told at ")
    assert sorted(shown.steps[unattended["alert_uuid"]]) == [0, 0, 1]
    assert "Marc" in dom and "step 1" in dom
    # Claims and outcomes, as they came.
    assert shown.cells[theft["alert_uuid"]]["claim"][0] == "Hugo"
    assert shown.cells[theft["alert_uuid"]]["outcome"] == []
    assert shown.cells[suspicious["alert_uuid"]]["claim"][0] == "Camille"
    what, value, who = shown.cells[suspicious["alert_uuid"]]["outcome"]
    assert (what, value, who.startswith("by Camille at ")) == ("theft stopped", "45.50 recovered", True)
    assert dom.count(html.escape(SHOP_AS_SENT, quote=False)) >= 2
    assert "error" not in shown.connection
    # What the phones reported: Hugo's push was seen; of the other sent pushes no phone said anything.
    assert re.search(r"push: on the phone 1/6, seen 1/6, alert → seen \d+ s", dom), dom
    assert "seen " in dom

    screenshot = tmp_path / "ops-page.png"
    finish(open_in_chromium(binary, tmp_path / "screenshot", page, f"--screenshot={screenshot}"))
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with capsys.disabled():  # in the test output whether or not pytest captures it
        print(f"\nops page screenshot: {screenshot}")


def calm_shops(app, client) -> dict[str, str]:
    """A shop grouping its bursts with two thefts, a silenced alert, and a shop open with nobody on shift;
    the uuids of the alerts by what became of them."""
    app.config["GROUP_WINDOW_SECONDS"] = 120
    make_user(make_location(SHOP_AS_SENT), level=Level.STANDARD, name="Camille")
    uncovered = make_location("Nord")
    make_user(uncovered, level=Level.STANDARD, name="Hugo")
    roster = client.put(
        "/locations/Nord/roster", data=b"user,start,end\n", headers={"Content-Type": "text/csv"}
    )
    assert roster.status_code == 200, roster.json
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"labels": ["suspicious"], "ends_at": ends, "comment": "shelving"}
    assert client.post(f"/locations/{quote(SHOP_AS_SENT, safe='')}/silences", json=body).status_code == 201
    payloads = {
        "rang": alert_payload(SHOP_AS_SENT, label="theft"),
        "grouped": alert_payload(SHOP_AS_SENT, label="theft"),
        "silenced": alert_payload(SHOP_AS_SENT, label="suspicious"),
    }
    for payload in payloads.values():
        post_alert(client, payload)
    return {what: payload["alert_uuid"] for what, payload in payloads.items()}


def test_the_stream_says_why_an_alert_rang_nobody_and_which_shops_have_nobody_on_shift(app, client, served):
    uuids = calm_shops(app, client)
    with ops_events(served(app), client) as events:
        alerts = {alert["alert_uuid"]: alert for alert in next_event(events, "snapshot")["alerts"]}
        assert next(events) == ("shops", '{"uncovered":["Nord"]}')
    assert {what: alerts[uuid]["quiet"] for what, uuid in uuids.items()} == {
        "rang": None,
        "grouped": "grouped",
        "silenced": "silenced",
    }
    assert alerts[uuids["grouped"]]["group_size"] == 2 and alerts[uuids["grouped"]]["deliveries"] == []
    assert alerts[uuids["grouped"]]["group_id"] == alerts[uuids["rang"]]["group_id"] is not None


def test_the_page_in_chromium_warns_of_a_shop_with_nobody_on_shift_and_marks_quiet_alerts(
    app, client, admin_token, served, tmp_path
):
    binary = chromium()
    uuids = calm_shops(app, client)
    page = f"{served(app)}/ops#token={admin_token}"
    dom = finish(open_in_chromium(binary, tmp_path / "calm", page, "--dump-dom"))
    assert "Nobody on shift at Nord: critical alerts go to the off-hours tier." in dom
    assert 'data-quiet="silenced"' in dom and "silenced: told to nobody" in dom
    assert "grouped: one of 2, summed up until " in dom
    assert "3 alerts in 1 groups; 2 rang nobody when they came" in dom
    assert uuids["rang"] in OpsPage(dom).alerts
