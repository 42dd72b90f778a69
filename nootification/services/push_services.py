"""Which push services a Web Push subscription may name: the browsers', as `WEB_PUSH_SERVICE_HOSTS` lists."""

from collections.abc import Iterable
from urllib.parse import urlsplit


def _matches(pattern: str, host: str, port: int | None) -> bool:
    """Whether `host` (and `port`) fit one pattern: `host`, `host:port`, `*.domain` or `*.domain:port`."""
    name, _, wanted_port = pattern.partition(":")
    if wanted_port and str(port) != wanted_port:
        return False
    if name.startswith("*."):
        return host.endswith(name[1:]) and len(host) > len(name) - 1
    return host == name


def at_known_push_service(endpoint: str, patterns: Iterable[str]) -> bool:
    """Whether a subscription's endpoint lies at one of the push services `patterns` name."""
    try:
        parts = urlsplit(endpoint)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
    return bool(host) and any(_matches(pattern.lower(), host, port) for pattern in patterns)
