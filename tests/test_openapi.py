"""The OpenAPI document describes the whole API and is valid; the docs page is served from here."""

import re

from openapi_spec_validator import validate

from nootification.api import BLUEPRINTS

METHODS = {"get", "put", "post", "patch", "delete"}


def test_the_served_document_is_valid_openapi(anonymous):
    spec = anonymous.get("/openapi.json").json
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_route_is_documented_with_its_error_shape(app, anonymous):
    spec = anonymous.get("/openapi.json").json
    documented = {
        (path, method.upper())
        for path, operations in spec["paths"].items()
        for method in operations
        if method in METHODS
    }
    api_prefixes = tuple(blueprint.url_prefix for blueprint in BLUEPRINTS)
    # The providers' callbacks (Twilio's under /webhooks/twilio) are their formats, left out on purpose.
    api_blueprints = {blueprint.name for blueprint in BLUEPRINTS}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(api_prefixes) or rule.endpoint.partition(".")[0] not in api_blueprints:
            continue
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule).rstrip("/") or "/"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            assert "default" in operation["responses"], (path, method)
            assert operation.get("summary"), (path, method)
    error = spec["components"]["schemas"]["Error"]["properties"]
    assert {"code", "status", "message", "errors"} <= set(error)


def test_auth_schemes_are_described(anonymous):
    spec = anonymous.get("/openapi.json").json
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "webhookSignature"}
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert {"webhookSignature": []} in spec["paths"]["/webhooks/alerts"]["post"]["security"]


def test_interactive_docs_load_their_assets_locally(anonymous):
    page = anonymous.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert "//" not in html.split("/docs/assets/")[0].split("<link")[-1]  # no outside host
    assert anonymous.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
