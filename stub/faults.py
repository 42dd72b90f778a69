"""Failure injection, the same on every provider path: wait, then fail as settings say; GET/PUT /control."""

import time

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from stub.http import json_error
from stub.settings import Fault, InvalidSettings
from stub.state import StubState, stub_state

bp = Blueprint("faults", __name__)

RETRY_AFTER_STATUSES = frozenset({429, 503})


def inject(state: StubState) -> Fault | None:
    """Wait as the settings say, then return the failure to answer with, if any."""
    delay, fault = state.draw()
    with state.answering():
        time.sleep(delay)
    return fault


def faulty(response: Response, fault: Fault) -> Response:
    """`response` with the fault's status, and its Retry-After where providers send one."""
    response.status_code = fault.status
    if fault.status in RETRY_AFTER_STATUSES:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


@bp.get("/control")
def get_control() -> ResponseReturnValue:
    """The current failure settings and counters."""
    return stub_state().control()


@bp.put("/control")
def put_control() -> ResponseReturnValue:
    """Change some failure settings; 422 if any is unknown or out of range."""
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return json_error(422, "invalid settings", {"_schema": ["Invalid input type."]})
    try:
        return stub_state().update(changes)
    except InvalidSettings as exc:
        return json_error(422, "invalid settings", exc.errors)


@bp.post("/control/reset")
def reset_control() -> ResponseReturnValue:
    """Back to a healthy provider."""
    return stub_state().reset()
