import ast
from pathlib import Path

import pytest
from redis import Redis
from redis.sentinel import SentinelConnectionPool

from nootification import create_app
from nootification.extensions import limiter, redis_queue
from nootification.redis_connection import (
    DEFAULT_SENTINEL_PORT,
    RedisUrlError,
    SentinelTarget,
    connect,
    masked,
    parse_sentinel_url,
)
from tests.helpers.config import limited_app, make_config

ROOT = Path(__file__).resolve().parent.parent
# What builds a Redis client or pool: only nootification/redis_connection.py may call these.
CLIENT_BUILDERS = {
    "Redis",
    "StrictRedis",
    "Sentinel",
    "from_url",
    "master_for",
    "slave_for",
    "ConnectionPool",
}


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "redis+sentinel://127.0.0.1:26379/mymaster",
            SentinelTarget(sentinels=(("127.0.0.1", 26379),), service_name="mymaster"),
        ),
        (
            "redis+sentinel://:s%40cret@a:1,b:2,c/svc/3",
            SentinelTarget(
                sentinels=(("a", 1), ("b", 2), ("c", DEFAULT_SENTINEL_PORT)),
                service_name="svc",
                db=3,
                password="s@cret",
            ),
        ),
        (
            "redis+sentinel://app:pw@a:1/svc?sentinel_password=sp&sentinel_username=su"
            "&socket_timeout=1.5&socket_connect_timeout=0.5",
            SentinelTarget(
                sentinels=(("a", 1),),
                service_name="svc",
                username="app",
                password="pw",
                sentinel_username="su",
                sentinel_password="sp",
                socket_timeout=1.5,
                socket_connect_timeout=0.5,
            ),
        ),
    ],
)
def test_a_sentinel_url_names_its_sentinels_service_database_and_logins(url, target):
    assert parse_sentinel_url(url) == target


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+sentinel:///svc", "no sentinel address"),
        ("redis+sentinel://a:1", "the path must be /service_name"),
        ("redis+sentinel://a:1/svc/0/extra", "the path must be /service_name"),
        ("redis+sentinel://a:1/svc/zero", "database 'zero' is not a number"),
        ("redis+sentinel://a:port/svc", "sentinel address 'a:port' has no valid port"),
        ("redis+sentinel://a:70000/svc", "has no valid port"),
        ("redis+sentinel://:1/svc", "sentinel address ':1' has no host"),
        ("redis+sentinel://a:1/svc?ssl=true", "unknown option(s) ssl"),
        ("redis+sentinel://a:1/svc?socket_timeout=soon", "socket_timeout must be a number of seconds"),
        ("redis+sentinel://a:1/svc?socket_timeout=0", "socket_timeout must be positive"),
        ("sentinel://a:1/svc", "unknown scheme 'sentinel'"),
        ("127.0.0.1:6379", "unknown scheme"),
        ("redis://:pw@host:port/0", "Port could not be cast"),
    ],
)
def test_a_url_it_cannot_read_is_refused_at_once_saying_why_and_the_syntax(url, reason):
    with pytest.raises(RedisUrlError) as refused:
        connect(url)
    message = str(refused.value)
    assert reason in message
    assert "redis+sentinel://[[username]:password@]host:port[,host:port...]/service_name[/db]" in message


def test_an_error_never_shows_the_password_or_the_sentinels_password():
    with pytest.raises(RedisUrlError) as refused:
        connect("redis+sentinel://app:hunter2@a:1/svc/x?sentinel_password=swordfish")
    assert "hunter2" not in str(refused.value) and "swordfish" not in str(refused.value)
    assert masked("redis://:hunter2@h:1/0") == "redis://:***@h:1/0"


def test_a_plain_url_gives_a_client_with_the_service_timeouts(redis_url):
    client = connect(redis_url)
    assert client.ping()
    options = client.connection_pool.connection_kwargs
    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (2.0, 5.0)
    assert options["health_check_interval"] == 30


def test_a_sentinel_url_gives_a_client_of_the_services_primary_found_anew_on_each_connection():
    client = connect(
        "redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/svc/4?sentinel_password=sp&socket_timeout=1"
    )
    pool = client.connection_pool
    # SentinelConnectionPool asks the sentinels for the primary whenever it opens a connection.
    assert isinstance(pool, SentinelConnectionPool) and pool.is_master and pool.service_name == "svc"
    assert pool.connection_kwargs["db"] == 4 and pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["socket_timeout"] == 1.0
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [1, 2]
    assert all(s.connection_pool.connection_kwargs["password"] == "sp" for s in sentinels)


def test_the_app_refuses_to_start_on_a_redis_url_it_cannot_read():
    with pytest.raises(RedisUrlError, match="REDIS_URL redis\\+sentinel://a:1/: the path must be"):
        create_app(make_config(REDIS_URL="redis+sentinel://a:1/"))


def test_the_rate_limits_count_on_the_apps_own_redis_connections(app):
    limited = limited_app(app)
    assert limiter.storage.storage.connection_pool is redis_queue.connection_of(limited).connection_pool


def calls_building_a_client(path: Path) -> list[str]:
    """Where a file calls something that builds a Redis client or pool, as `path:line name`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if name in CLIENT_BUILDERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_every_redis_client_of_the_service_and_the_bench_comes_from_connect():
    files = [
        *(ROOT / "nootification").rglob("*.py"),
        *(ROOT / "bench").rglob("*.py"),
        *(ROOT / "ops").rglob("*.py"),
        ROOT / "wsgi.py",
        ROOT / "e2e.py",
    ]
    offenders = [
        call
        for path in files
        if path != ROOT / "nootification" / "redis_connection.py"
        for call in calls_building_a_client(path)
    ]
    assert offenders == []
    assert calls_building_a_client(ROOT / "nootification" / "redis_connection.py")
    assert isinstance(connect("redis://127.0.0.1:1/0"), Redis)
