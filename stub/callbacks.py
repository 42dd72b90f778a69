"""Calling the service back as a provider does: a pressed chat button or phone key, Twilio's status of an
SMS or a call."""

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from flask import Response
from flask.typing import ResponseReturnValue

from stub.http import json_error

log = logging.getLogger(__name__)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the service's answer, not a place to go (urllib would follow one to ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """Follow none."""
        return None


# Only HTTP(S): urllib would otherwise read file:// (or ftp://) URLs and answer with what it read.
_PRESS_OPENER = urllib.request.build_opener(_NoRedirects)
PRESS_SCHEMES = ("http", "https")


def press(
    url: str, body: bytes, headers: Mapping[str, str], *, mimetype: str = "application/json"
) -> ResponseReturnValue:
    """POST a button press to the service as the provider would, and answer with what the service said (a
    JSON body, unless `mimetype` says otherwise: Twilio's TwiML)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in PRESS_SCHEMES or not parts.hostname:
        return json_error(422, "invalid press", {"url": ["Must be an http or https URL."]})
    call = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _PRESS_OPENER.open(call, timeout=10) as answer:
            status, reply = answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        status, reply = refused.code, refused.read()
    except OSError as error:
        return json_error(502, f"the service did not answer: {error}")
    return Response(reply, status=status, mimetype=mimetype)


def notify(url: str, body: bytes, headers: Mapping[str, str]) -> int | None:
    """POST a provider's callback to the URL it was given, and only there (no redirect followed): the
    service's status, or None when it could not be reached. Logged, never raised: nobody waits on it."""
    if urllib.parse.urlsplit(url).scheme.lower() not in PRESS_SCHEMES:
        log.warning("callback not sent: %s is not an http(s) URL", url)
        return None
    call = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _PRESS_OPENER.open(call, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        log.info("callback to %s answered %s", url, refused.code)
        return refused.code
    except OSError as error:
        log.info("callback to %s failed: %s", url, error)
        return None
