"""The HTTP transport of the channels: one connection pool per sender, one POST, network failures classified.

urllib3 rather than requests: a POST costs half the CPU (0.7 against 1.5-1.8 ms here, measured with 32
threads against the stub), and a worker spends most of a delivery's CPU in it. requests adds nothing the
senders use: no redirects are followed, no cookies kept, nothing retried.
"""

import json as jsonlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import certifi
import urllib3
from urllib3.exceptions import (
    ClosedPoolError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
    ProtocolError,
)
from urllib3.exceptions import TimeoutError as HttpTimeout

from nootification.senders.base import PermanentSendError, TransientSendError

DEFAULT_POOL_SIZE = 32  # WORKER_CONCURRENCY's default, for a sender built from a partial config
USER_AGENT = "nootification"
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # read as requests reads them
HTTP_SCHEMES = ("http", "https")
KEY_HEADERS = ("idempotency-key", "webhook-id")


@dataclass(frozen=True)
class Answer:
    """A provider's answer to one POST: status, reason phrase, headers and body."""

    status_code: int
    reason: str
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        """The body as text; bytes that are not UTF-8 are replaced."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return jsonlib.loads(self.content)


class HttpClient:
    """A sender's connections, shared by the worker's sending slots: one kept open per slot and host.

    Proxies come from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), read once; so is the CA bundle
    (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else certifi's, as with requests).
    """

    def __init__(self, config: Mapping | None = None):
        size = (config or {}).get("WORKER_CONCURRENCY", DEFAULT_POOL_SIZE)
        bundle = next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)
        settings = {"maxsize": size, "ca_certs": bundle or certifi.where()}
        self.direct = urllib3.PoolManager(**settings)
        self.proxy_settings = getproxies_environment()
        self.proxies = {
            scheme: urllib3.ProxyManager(self.proxy_settings[scheme], **settings)
            for scheme in HTTP_SCHEMES
            if scheme in self.proxy_settings
        }

    def manager_for(self, scheme: str, host: str) -> urllib3.PoolManager:
        """The proxy's pool for a URL the environment sends through one, else the direct pool."""
        proxy = self.proxies.get(scheme)
        if proxy is None or proxy_bypass_environment(host, self.proxy_settings):
            return self.direct
        return proxy

    def post(
        self,
        url: str,
        *,
        timeout: tuple[float, float],
        json: object = None,
        body: bytes | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Answer:
        """POST once (`json`, raw `body` or a `form`) and return the answer, whatever its status.

        Network failures become TransientSendError, a URL that is no http(s) URL a PermanentSendError.
        Redirects are not followed: for an API or a webhook, one means a wrong address.
        """
        scheme, host = _scheme_and_host(url)
        # A request's own headers replace a pool's in urllib3, so the User-Agent goes with each request.
        sent_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            sent_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth is not None:
            sent_headers.update(urllib3.make_headers(basic_auth=":".join(auth)))
        connect, read = timeout
        manager = self.manager_for(scheme, host)
        request = partial(
            manager.request,
            "POST",
            url,
            body=body,
            headers=sent_headers,
            timeout=urllib3.Timeout(connect=connect, read=read),
            retries=False,
            redirect=False,
        )
        try:
            try:
                response = request()
            except ClosedPoolError:  # another slot cleared the pools just now: nothing was sent
                response = request()
            except ProtocolError:
                # The connection was dropped under the request, most often a kept-alive one the server or the
                # network let go while it lay idle: a host back from a network cut finds all of them so, and
                # each would fail a send and count against the provider. The pools are emptied; a request
                # whose key makes its receiver drop repeats goes once more, on a new connection.
                manager.clear()
                if not is_keyed(sent_headers):
                    raise
                response = request()
        # urllib3 quotes the URL in its messages, and some URLs hold a token (Telegram's, a webhook's),
        # so the cause is named, not chained.
        except NewConnectionError as error:  # urllib3 makes it a timeout too, though it is a refusal
            raise TransientSendError(f"connection error: {type(error).__name__}") from None
        except HttpTimeout as error:
            raise TransientSendError(f"timeout: {type(error).__name__}") from None
        except LocationParseError:
            raise PermanentSendError("not a valid http(s) URL") from None
        except HTTPError as error:
            raise TransientSendError(f"connection error: {type(error).__name__}") from None
        return Answer(response.status, response.reason or "", response.headers, response.data)


def is_keyed(headers: Mapping[str, str]) -> bool:
    """Whether a request carries a key by which its receiver drops a repeat (Idempotency-Key, webhook-id)."""
    return any(name.lower() in KEY_HEADERS for name in headers)


def _scheme_and_host(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in HTTP_SCHEMES:
        raise PermanentSendError("not a valid http(s) URL")
    return parts.scheme, host
