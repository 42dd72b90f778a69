"""The FCM channel: Firebase Cloud Messaging's HTTP v1 API, to Android phones and iOS apps built on it.

A service account's JSON key (a secret file, FCM_SERVICE_ACCOUNT_FILE) is exchanged for an OAuth 2 access
token by google-auth, which keeps it until shortly before it expires; every sending slot shares it.
"""

import json
import threading
import time
from collections.abc import Mapping

import urllib3
from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from google.auth.transport.urllib3 import Request
from google.oauth2 import service_account
from marshmallow import Schema, fields, validate

from nootification.senders.base import (
    ContactGoneError,
    Message,
    MessageSender,
    PermanentSendError,
    TransientSendError,
)
from nootification.senders.device import (
    NOTIFICATION_MAX_BODY,
    NOTIFICATION_MAX_SUBJECT,
    notification_fields,
    seconds_to_live,
)
from nootification.senders.http import json_body, raise_for_status
from nootification.senders.registry import register
from nootification.senders.transport import HttpClient

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# FCM keeps a message at most 4 weeks.
MAX_TTL_SECONDS = 28 * 24 * 3600
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
GONE_ERROR_CODES = frozenset({"UNREGISTERED"})


class FcmConfigSchema(Schema):
    """An FCM contact point: the app's registration token on the phone."""

    address = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class AccessTokens:
    """A service account's project and access token, refreshed by google-auth when it is about to expire."""

    def __init__(self, account: Mapping, timeout: tuple[float, float]):
        self.credentials = service_account.Credentials.from_service_account_info(account, scopes=[FCM_SCOPE])
        self.project_id = account["project_id"]
        connect, read = timeout
        # No retries of our own and a bounded wait: a slot's attempt must end in its timeout.
        self.request = Request(
            urllib3.PoolManager(timeout=urllib3.Timeout(connect=connect, read=read), retries=False)
        )
        self._lock = threading.Lock()

    def current(self) -> str:
        """A valid access token, fetched from the token endpoint only when the cached one is expiring."""
        with self._lock:
            if not self.credentials.valid:
                try:
                    self.credentials.refresh(self.request)
                except TransportError as error:
                    raise TransientSendError(f"FCM token endpoint unreachable: {error}") from None
                except RefreshError as error:
                    # google-auth's first argument is the token endpoint's "error: description".
                    detail = error.args[0] if error.args else type(error).__name__
                    if error.retryable:
                        raise TransientSendError(f"FCM token refused for now: {detail}") from None
                    raise PermanentSendError(f"FCM token refused: {detail}") from None
            return self.credentials.token

    def forget(self, token: str) -> None:
        """Drop a token FCM refused, so that the next attempt fetches a new one."""
        with self._lock:
            if self.credentials.token == token:
                self.credentials.token = None


@register
class FcmSender(MessageSender):
    """POSTs `{FCM_API_URL}/v1/projects/<project>/messages:send` with a notification and data message."""

    channel = "fcm"
    config_schema = FcmConfigSchema
    secret_names = ("FCM_SERVICE_ACCOUNT",)
    max_subject = NOTIFICATION_MAX_SUBJECT
    max_body = NOTIFICATION_MAX_BODY

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.api_url = config["FCM_API_URL"].rstrip("/")
        self.service_url = config["PUBLIC_URL"].rstrip("/")
        self.timeout = (config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"])
        self.http = HttpClient(config)
        self._tokens: AccessTokens | None = None
        self._tokens_lock = threading.Lock()

    def tokens(self) -> AccessTokens:
        """The access tokens of the configured service account, read from the secret on first use."""
        with self._tokens_lock:
            if self._tokens is None:
                try:
                    account = json.loads(self.required_secret("FCM_SERVICE_ACCOUNT"))
                    self._tokens = AccessTokens(account, self.timeout)
                except (ValueError, KeyError, TypeError, GoogleAuthError) as error:
                    raise PermanentSendError(
                        f"FCM_SERVICE_ACCOUNT is not a service account key: {type(error).__name__}"
                    ) from None
            return self._tokens

    @staticmethod
    def payload(message: Message, service_url: str, now: float) -> dict:
        """The v1 message: the notification, the data (all strings), Android and APNs delivery options."""
        fields_ = notification_fields(message, service_url)
        critical = message.severity == "critical"
        ttl = seconds_to_live(message, now, MAX_TTL_SECONDS)
        apns_headers = {
            "apns-priority": "10" if critical else "5",
            "apns-push-type": "alert",
            "apns-collapse-id": message.alert_uuid,
        }
        if message.expires_at is not None:
            apns_headers["apns-expiration"] = str(int(message.expires_at))
        return {
            "message": {
                "token": message.address,
                "notification": {"title": message.subject, "body": message.body},
                "data": {name: "" if value is None else str(value) for name, value in fields_.items()},
                "android": {
                    "priority": "HIGH" if critical else "NORMAL",
                    "ttl": f"{ttl}s",
                    "collapse_key": message.alert_uuid,
                    "notification": {"tag": message.alert_uuid},
                },
                "apns": {
                    "headers": apns_headers,
                    "payload": {
                        "aps": {
                            "interruption-level": "time-sensitive" if critical else "active",
                            "sound": "default",
                        }
                    },
                },
            }
        }

    def send(self, message: Message) -> None:
        """POST once; an unregistered token turns the contact point off, quota and outages are transient."""
        self.address(message)
        tokens = self.tokens()
        token = tokens.current()
        response = self.http.post(
            f"{self.api_url}/v1/projects/{tokens.project_id}/messages:send",
            json=self.payload(message, self.service_url, time.time()),
            headers={"Authorization": f"Bearer {token}"},
            timeout=self.timeout,
        )
        error = json_body(response).get("error")
        if not isinstance(error, dict):
            error = {}
        status, code = error.get("status", ""), _fcm_error_code(error)
        reason = f"FCM {response.status_code} {code or status}: {error.get('message', response.reason)}"
        if code in GONE_ERROR_CODES or response.status_code == 404:
            raise ContactGoneError(f"the device token is gone: {reason}", http_status=response.status_code)
        if response.status_code == 401:
            tokens.forget(token)
            raise TransientSendError(reason, http_status=401)
        raise_for_status(response, reason=reason)


def _fcm_error_code(error: Mapping) -> str:
    """FCM's own error code (UNREGISTERED, QUOTA_EXCEEDED, ...) from an error's details, if it gives one."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return str(detail.get("errorCode", ""))
    return ""
