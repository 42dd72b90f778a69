"""The HTTP helpers every HTTP channel shares: Retry-After parsing and status classification."""

import time
from email.utils import formatdate

import pytest
import requests

from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.http import (
    PROXY_VARIABLES,
    is_transient,
    new_session,
    parse_retry_after,
    post,
    raise_for_status,
)


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


def response(status: int, text: str = "", **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = text.encode()
    answer.headers.update(headers)
    return answer


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
        post(new_session(), url, json={}, timeout=(1, 1))


def test_a_session_keeps_a_connection_for_each_sending_slot():
    session = new_session({"WORKER_CONCURRENCY": 48})

    assert session.get_adapter("https://api.example.com").poolmanager.connection_pool_kw["maxsize"] == 48


def test_without_proxy_variables_the_environment_is_read_once(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/bundle.pem")

    session = new_session()

    assert (session.trust_env, session.verify) == (False, "/etc/ssl/bundle.pem")


def test_a_proxy_variable_leaves_requests_to_read_the_environment_per_request(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")

    assert new_session().trust_env is True
