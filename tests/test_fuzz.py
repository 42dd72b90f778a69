"""Schemathesis against the served OpenAPI document: no server error, no answer the spec does not allow.

Every operation, a fixed seed, FUZZ_EXAMPLES examples each (200 by default; `make fuzz` runs more),
authenticated as admin.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from nootification import create_app
from nootification.models import Level
from tests.helpers.factories import make_location, make_user

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
METHODS = ("get", "put", "post", "patch", "delete")


def documented_operations() -> list[tuple[str, str]]:
    """Every (path, method) of the spec; the document does not depend on the database."""
    spec = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).test_client().get("/openapi.json").json
    return [(path, method) for path, item in spec["paths"].items() for method in item if method in METHODS]


@pytest.mark.parametrize(("path", "method"), documented_operations())
# A live worker and scheduler: /ready then answers 200, and any 5xx is a fault.
@pytest.mark.usefixtures("live_worker", "live_scheduler")
def test_operation_keeps_its_contract(app, client, admin_token, path, method):
    make_user(make_location(), level=Level.STANDARD)
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method.upper()]
    headers = {"Authorization": f"Bearer {admin_token}"}

    @seed(20261121)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def keeps_contract(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    keeps_contract()
