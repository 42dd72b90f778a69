"""Keeping user-supplied webhook addresses from reaching this host's own network (SSRF)."""

import ipaddress
import socket
from urllib.parse import urlsplit


def non_public_reason(url: str) -> str | None:
    """Why calling this URL could reach a loopback, link-local or private address; None if its host is public.

    Every address the host resolves to must be public: one private answer is enough to refuse it.
    """
    host = urlsplit(url).hostname
    if not host:
        return "the URL has no host"
    try:
        answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"{host} does not resolve"
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not address.is_global:
            return f"{host} resolves to a loopback, link-local or private address"
    return None


def is_url(address: str | None) -> bool:
    """Whether a contact address is an http(s) URL (webhooks, Teams, Slack incoming webhooks)."""
    return bool(address) and address.lower().startswith(("http://", "https://"))
