"""Keeping user-supplied webhook addresses from reaching this host's own network (SSRF)."""

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import urlsplit

# Each property of Python's ipaddress that marks an address no webhook should be called at.
SPECIAL_KINDS = ("unspecified", "loopback", "link_local", "site_local", "private", "multicast", "reserved")


def special_kind(address: IPv4Address | IPv6Address) -> str | None:
    """What makes an address unfit to call (`loopback`, `multicast`...), or None for a public unicast address.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4) is judged on both, the IPv4 one first.
    """
    embedded = (address.ipv4_mapped, address.sixtofour) if isinstance(address, IPv6Address) else ()
    for candidate in (*filter(None, embedded), address):
        for kind in SPECIAL_KINDS:
            if getattr(candidate, f"is_{kind}", False):  # is_site_local exists for IPv6 only
                return kind.replace("_", "-")
        if not candidate.is_global:
            return "non-global"
    return None


def non_public_reason(url: str) -> str | None:
    """Why calling this URL could reach an address that is not public unicast; None if its host is public.

    Every address the host resolves to must be public: one special answer is enough to refuse it.
    """
    host = urlsplit(url).hostname
    if not host:
        return "the URL has no host"
    try:
        answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"{host} does not resolve"
    for *_, sockaddr in answers:
        address = ip_address(sockaddr[0].split("%")[0])
        kind = special_kind(address)
        if kind is not None:
            return f"{host} resolves to {address} ({kind}); only public unicast addresses are called"
    return None


def is_url(address: str | None) -> bool:
    """Whether a contact address is an http(s) URL (webhooks, Teams, Slack incoming webhooks)."""
    return bool(address) and address.lower().startswith(("http://", "https://"))
