"""Every failure is JSON of one shape, never an HTML page."""

import pytest

from nootification import create_app
from tests.helpers.config import free_port, make_config


def assert_error_shape(response, code: int) -> None:
    assert response.status_code == code
    assert response.mimetype == "application/json"
    assert response.json["code"] == code
    assert isinstance(response.json["status"], str)
    assert isinstance(response.json["message"], str)


def test_unknown_route_is_a_json_404(client):
    assert_error_shape(client.get("/nowhere"), 404)


@pytest.mark.parametrize(("method", "path"), [("get", "/webhooks/alerts"), ("delete", "/preferences")])
def test_wrong_method_is_a_json_405(client, method, path):
    assert_error_shape(getattr(client, method)(path), 405)


def test_unexpected_failure_is_a_json_500_without_details(app, client, monkeypatch):
    def explode(**_):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("nootification.api.webhooks.ingest_alert", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post(
        "/webhooks/alerts",
        json={
            "url": "https://m.example.com/a.mp4",
            "location": "x",
            "alert_uuid": "33cbb18c-3e9d-4acc-9667-2fbe7bf29137",
            "label": "theft",
            "time_spotted": 1742470260.083,
        },
    )
    assert_error_shape(response, 500)
    assert "secret" not in response.get_data(as_text=True)


def test_every_response_carries_a_request_id(client):
    response = client.get("/health", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"
    assert client.get("/health").headers["X-Request-ID"]


def test_an_unreachable_database_is_a_json_503_with_retry_after(redis_url):
    app = create_app(
        make_config(
            SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing",
            REDIS_URL=redis_url,
        )
    )

    response = app.test_client().get("/users", headers={"Authorization": "Bearer noot_anything"})

    assert_error_shape(response, 503)
    assert response.headers["Retry-After"] == "2"
    assert "nobody" not in response.get_data(as_text=True)
