"""The one way the service connects to Redis: a plain `redis://` URL, or a `redis+sentinel://` URL whose
primary Redis Sentinel names, so the API, the workers and the scheduler follow a failover."""

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from redis import Redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_SYNTAX = (
    "redis+sentinel://[[username]:password@]host:port[,host:port...]/service_name[/db]"
    "[?sentinel_password=...&sentinel_username=...&socket_timeout=...&socket_connect_timeout=...]"
)
PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_OPTIONS = ("sentinel_password", "sentinel_username", "socket_timeout", "socket_connect_timeout")
DEFAULT_SENTINEL_PORT = 26379
# Keys a SCAN looks at per round trip. Redis's default, 10, made a scan of a keyspace of thousands (rate
# limits, webhook answers, per-alert keys) hundreds of round trips: 290 ms for 30,000 keys, on each scrape.
SCAN_BATCH = 1000


class RedisUrlError(ValueError):
    """REDIS_URL names no Redis the service knows how to reach."""


@dataclass(frozen=True)
class SentinelTarget:
    """What a `redis+sentinel://` URL names: the sentinels, the monitored service, and how to log in."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None


def masked(url: str) -> str:
    """The URL with its password replaced by `***`, fit for an error message or a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url.split("?", 1)[0]
    user = parts.username or ""
    return url.split("?", 1)[0].replace(f"{user}:{parts.password}@", f"{user}:***@", 1)


def _refuse(url: str, reason: str) -> RedisUrlError:
    return RedisUrlError(f"REDIS_URL {masked(url)}: {reason}; expected redis://... or {SENTINEL_SYNTAX}")


def _sentinel_address(url: str, item: str) -> tuple[str, int]:
    host, separator, port = item.strip().rpartition(":")
    if not separator:
        host, port = item.strip(), ""
    if not host:
        raise _refuse(url, f"sentinel address {item!r} has no host")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _refuse(url, f"sentinel address {item!r} has no valid port")
    return host, int(port)


def _seconds(url: str, name: str, values: dict[str, list[str]]) -> float | None:
    if name not in values:
        return None
    try:
        seconds = float(values[name][-1])
    except ValueError:
        raise _refuse(url, f"{name} must be a number of seconds") from None
    if seconds <= 0:
        raise _refuse(url, f"{name} must be positive")
    return seconds


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The sentinels, service, database and logins a `redis+sentinel://` URL names; else RedisUrlError."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise _refuse(url, f"not a {SENTINEL_SCHEME}:// URL")
    # urlsplit reads one host only: the comma-separated list is everything after the credentials.
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        raise _refuse(url, "no sentinel address")
    sentinels = tuple(_sentinel_address(url, item) for item in hosts.split(","))
    path = [unquote(segment) for segment in parts.path.strip("/").split("/") if segment]
    if not path or len(path) > 2:
        raise _refuse(url, "the path must be /service_name or /service_name/db")
    if len(path) == 2 and not path[1].isdigit():
        raise _refuse(url, f"database {path[1]!r} is not a number")
    values = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(values) - set(SENTINEL_OPTIONS))
    if unknown:
        raise _refuse(url, f"unknown option(s) {', '.join(unknown)} (known: {', '.join(SENTINEL_OPTIONS)})")
    userinfo = parts.netloc.rpartition("@")[0]
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    return SentinelTarget(
        sentinels=sentinels,
        service_name=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_username=values.get("sentinel_username", [None])[-1] or None,
        sentinel_password=values.get("sentinel_password", [None])[-1] or None,
        socket_timeout=_seconds(url, "socket_timeout", values),
        socket_connect_timeout=_seconds(url, "socket_connect_timeout", values),
    )


def connect(
    url: str,
    *,
    socket_connect_timeout: float = 2.0,
    socket_timeout: float = 5.0,
    health_check_interval: int = 30,
) -> Redis:
    """A lazy Redis client for `url`; for `redis+sentinel://`, one bound to the service's current primary.

    Sentinel's client asks the sentinels for the primary each time it opens a connection, and drops a
    connection whose server answers as a replica: after a failover, the next command after the one that failed
    reaches the new primary, and the callers carry on as after any Redis error (the worker and the scheduler
    start again, the sweeper queues what the outbox could not). Raises RedisUrlError at once for a URL it
    cannot read.
    """
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        target = parse_sentinel_url(url)
        connect_timeout = target.socket_connect_timeout or socket_connect_timeout
        sentinel = Sentinel(
            list(target.sentinels),
            sentinel_kwargs={
                "username": target.sentinel_username,
                "password": target.sentinel_password,
                "socket_connect_timeout": connect_timeout,
                "socket_timeout": connect_timeout,
            },
        )
        return sentinel.master_for(
            target.service_name,
            db=target.db,
            username=target.username,
            password=target.password,
            socket_connect_timeout=connect_timeout,
            socket_timeout=target.socket_timeout or socket_timeout,
            health_check_interval=health_check_interval,
        )
    if scheme not in PLAIN_SCHEMES:
        raise _refuse(url, f"unknown scheme {scheme!r}")
    try:
        return Redis.from_url(
            url,
            socket_connect_timeout=socket_connect_timeout,
            socket_timeout=socket_timeout,
            health_check_interval=health_check_interval,
        )
    except ValueError as error:
        raise _refuse(url, str(error)) from None
