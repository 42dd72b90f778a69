from nootification import create_app
from tests.conftest import free_port, make_config


def test_healthy_when_database_and_redis_answer(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "components": {"database": {"status": "ok"}, "redis": {"status": "ok"}},
    }


def test_503_names_redis_when_it_is_down(client, redis_down):
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "failing"
    assert response.json["components"]["redis"]["status"] == "failing"
    assert response.json["components"]["database"] == {"status": "ok"}


def test_503_names_the_database_when_it_is_down(redis_url):
    unreachable = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=unreachable, REDIS_URL=redis_url))
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.json["components"]["database"]["status"] == "failing"
    assert response.json["components"]["redis"] == {"status": "ok"}
