"""The interactive docs in headless Chromium: Swagger UI shows the spec's operations, from here alone."""

import requests

from tests.helpers.browser import chromium, devtools_page, problems

OPENAPI_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# What Swagger UI shows: each operation block's method and path, and any message that it could not render.
# Nothing (null) until it shows either, as it renders only once it has fetched the document.
SHOWN = """(() => {
  const operations = [...document.querySelectorAll(".opblock")].map((block) => [
    block.querySelector(".opblock-summary-method")?.textContent,
    block.querySelector(".opblock-summary-path")?.dataset.path,
  ]);
  const errors = [...document.querySelectorAll(".version-pragma, .errors-wrapper, .loading-container .title")]
    .map((element) => element.innerText);
  return operations.length || errors.length ? { operations, errors } : null;
})()"""


def test_the_docs_page_shows_every_operation_of_the_spec_and_no_error(app, serve_app, tmp_path, capsys):
    binary = chromium()
    url = serve_app(app)
    spec = requests.get(f"{url}/openapi.json", timeout=10).json()
    operations = sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in OPENAPI_METHODS
    )

    with devtools_page(binary, tmp_path / "profile") as page:
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=f"{url}/docs")
        shown = page.settled(SHOWN)
        screenshot = tmp_path / "docs.png"
        page.screenshot(screenshot)
        body = page.evaluate("document.body.innerText")

    assert shown["errors"] == []
    assert "Unable to render" not in body
    assert sorted(map(tuple, shown["operations"])) == operations
    requested = {
        event["params"]["request"]["url"]
        for event in page.events
        if event.get("method") == "Network.requestWillBeSent"
    }
    assert f"{url}/docs/assets/swagger-ui-bundle.js" in requested
    assert {address for address in requested if not address.startswith((f"{url}/", "data:"))} == set()
    assert problems(page.events) == []
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with capsys.disabled():  # in the test output whether or not pytest captures it
        print(f"\ndocs page screenshot: {screenshot}")
