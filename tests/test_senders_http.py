"""The HTTP helpers every HTTP channel shares: Retry-After parsing and status classification."""

import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.http import is_transient, parse_retry_after, raise_for_status
from nootification.senders.transport import Answer, HttpClient


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), (" 3 ", 3.0), ("0", 0.0), (None, None), ("", None), ("soon", None), ("-5", None)],
)
def test_parse_retry_after_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date():
    assert 28 <= parse_retry_after(formatdate(time.time() + 30, usegmt=True)) <= 30


def test_parse_retry_after_a_past_date_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    ("status", "transient"), [(500, True), (503, True), (408, True), (429, True), (400, False), (401, False)]
)
def test_is_transient(status, transient):
    assert is_transient(status) is transient


def response(status: int, text: str = "", **headers: str) -> Answer:
    return Answer(status, "", headers, text.encode())


def test_raise_for_status_uses_the_header_unless_given_retry_after():
    with pytest.raises(TransientSendError) as from_header:
        raise_for_status(response(429, "slow down", **{"Retry-After": "4"}))
    with pytest.raises(TransientSendError) as given:
        raise_for_status(response(429, **{"Retry-After": "4"}), reason="custom", retry_after=9)

    assert (str(from_header.value), from_header.value.retry_after) == ("HTTP 429: slow down", 4.0)
    assert (str(given.value), given.value.retry_after) == ("custom", 9)


def test_raise_for_status_lets_2xx_through_and_refuses_a_redirect():
    raise_for_status(response(204))

    with pytest.raises(PermanentSendError, match="HTTP 302"):
        raise_for_status(response(302, **{"Location": "https://elsewhere.example.com"}))


@pytest.mark.parametrize("url", ["no-scheme.example.com/hook", "ftp://example.com/hook", "http://"])
def test_post_to_a_url_that_is_no_http_url_is_permanent(url):
    with pytest.raises(PermanentSendError, match="not a valid http"):
        HttpClient().post(url, json={}, timeout=(1, 1))


def test_a_client_keeps_a_connection_for_each_sending_slot():
    client = HttpClient({"WORKER_CONCURRENCY": 48})

    assert client.direct.connection_pool_kw["maxsize"] == 48


def test_proxies_come_from_the_environment_and_no_proxy_bypasses_them(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("NO_PROXY", "hooks.example.com")
    client = HttpClient()

    assert client.manager_for("https", "api.telegram.org") is client.proxies["https"]
    assert client.manager_for("https", "hooks.example.com") is client.direct
    assert client.manager_for("http", "api.telegram.org") is client.direct


def test_the_ca_bundle_comes_from_the_environment_as_with_requests(monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/bundle.pem")

    assert HttpClient().direct.connection_pool_kw["ca_certs"] == "/etc/ssl/bundle.pem"


agents: list[str] = []  # the User-Agent of each POST the HTTPS server below received


@pytest.fixture
def https_url(certificate) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with the self-signed certificate, answering every POST 204."""

    class NoContent(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the name http.server calls)
            self.rfile.read(int(self.headers["Content-Length"]))
            agents.append(self.headers["User-Agent"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NoContent)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_https_trusts_the_ca_bundle_the_environment_names(monkeypatch, certificate, https_url):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    agents.clear()

    answer = HttpClient().post(https_url, json={"a": 1}, headers={"X-Extra": "1"}, timeout=(2, 2))

    assert answer.status_code == 204
    assert agents == ["nootification"]


def test_https_to_an_untrusted_certificate_fails_without_sending(monkeypatch, https_url):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    with pytest.raises(TransientSendError, match="connection error: SSLError"):
        HttpClient().post(https_url, json={"a": 1}, timeout=(2, 2))


class DropsItsFirstConnection:
    """A server on loopback that answers its first connection's first request and keeps it open, then drops
    that connection under the next request without an answer, as a server does with a kept-alive connection
    it let go while it lay idle (or behind a network cut); every later connection is answered."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.requests: list[int] = []  # each request's connection number
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        for number in itertools.count(1):
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection, number), daemon=True).start()

    def _answer(self, connection: socket.socket, number: int) -> None:
        with connection, connection.makefile("rb") as reader:
            while True:
                lines = iter(reader.readline, b"")
                head = list(itertools.takewhile(lambda line: line not in (b"\r\n", b""), lines))
                if not head:
                    return
                length = next(int(h.split(b":")[1]) for h in head if h.lower().startswith(b"content-length"))
                reader.read(length)
                self.requests.append(number)
                if number == 1 and self.requests.count(1) == 2:
                    return  # dropped under the request, unanswered
                connection.sendall(self.ANSWER)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def drops_first():
    server = DropsItsFirstConnection()
    yield server
    server.close()


def test_a_keyed_request_on_a_dropped_kept_alive_connection_goes_once_more_on_a_new_one(drops_first):
    client, keyed = HttpClient(), {"Idempotency-Key": "d-1"}
    client.post(drops_first.url, json={}, headers=keyed, timeout=(1, 1))

    answer = client.post(drops_first.url, json={}, headers=keyed, timeout=(1, 1))

    assert answer.status_code == 200
    assert drops_first.requests == [1, 1, 2]


def test_an_unkeyed_request_on_a_dropped_connection_is_not_sent_again(drops_first):
    # It may have been acted on before the connection dropped: one SMS must not become two.
    client = HttpClient()
    client.post(drops_first.url, json={}, timeout=(1, 1))

    with pytest.raises(TransientSendError, match="connection error: ProtocolError"):
        client.post(drops_first.url, json={}, timeout=(1, 1))

    assert drops_first.requests == [1, 1]
