"""FCM HTTP v1, and the Google OAuth token endpoint its senders get access tokens from."""

import json
import os
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from google.auth import crypt

from stub.faults import faulty, inject
from stub.http import Refused, json_error, json_object
from stub.jwt import Jwt, is_number
from stub.settings import InvalidSettings
from stub.state import store, stub_state

bp = Blueprint("fcm", __name__)

# FCM device tokens starting with these provoke FCM's refusals: 404 UNREGISTERED, 400 INVALID_ARGUMENT and
# 403 SENDER_ID_MISMATCH; each constant is such a token itself.
UNREGISTERED_FCM_TOKEN = "unregistered"
INVALID_FCM_TOKEN = "invalid"
MISMATCHED_FCM_TOKEN = "mismatch"

SERVICE_ACCOUNT_FIELDS = ("client_email", "project_id", "public_key", "private_key_id")
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform"}
)
GRANT_MAX_LIFETIME = 3600
DEFAULT_TOKEN_EXPIRES_IN = 3599
WHOLE_SECONDS = re.compile(r"[0-9]+")
SHORT_LIVED_GRANT = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential."
)
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
FCM_FAULT_ERROR_CODES = {
    400: "INVALID_ARGUMENT",
    404: "UNREGISTERED",
    429: "QUOTA_EXCEEDED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
FCM_TOKEN_REFUSALS = (
    (UNREGISTERED_FCM_TOKEN, 404, "Requested entity was not found.", "UNREGISTERED"),
    (
        INVALID_FCM_TOKEN,
        400,
        "The registration token is not a valid FCM registration token",
        "INVALID_ARGUMENT",
    ),
    (MISMATCHED_FCM_TOKEN, 403, "SenderId mismatch", "SENDER_ID_MISMATCH"),
)
FCM_TARGETS = ("token", "topic", "condition")
ANDROID_PRIORITIES = frozenset({"HIGH", "NORMAL"})
ANDROID_PRIORITY_TYPE = "type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority"
DURATION = re.compile(r"[0-9]+(\.[0-9]{1,9})?s")


@dataclass(frozen=True)
class ServiceAccount:
    """A Google service account the FCM emulation trusts: its public key, never its private one."""

    client_email: str
    project_id: str
    private_key_id: str
    verifier: crypt.Verifier


@dataclass(frozen=True)
class AccessToken:
    """An OAuth access token the token endpoint issued: to which account, and until when."""

    client_email: str
    project_id: str
    expires_at: float


class TrustedAccounts:
    """The service accounts FCM trusts and the access tokens issued to them; every access holds the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, ServiceAccount] = {}
        self._tokens: dict[str, AccessToken] = {}

    def register(self, account: ServiceAccount) -> None:
        """Trust a service account's key, replacing the one it had."""
        with self._lock:
            self._accounts[account.client_email] = account

    def account(self, client_email: str) -> ServiceAccount | None:
        """The registered service account with this email, if any."""
        with self._lock:
            return self._accounts.get(client_email)

    def issue_token(self, account: ServiceAccount, expires_in: int) -> str:
        """A new access token for `account`, good for `expires_in` seconds."""
        token = f"ya29.stub-{secrets.token_urlsafe(32)}"
        with self._lock:
            self._tokens[token] = AccessToken(
                account.client_email, account.project_id, time.time() + expires_in
            )
        return token

    def access_token(self, token: str) -> AccessToken | None:
        """What the stub knows of an access token it issued, expired or not."""
        with self._lock:
            return self._tokens.get(token)


def _accounts() -> TrustedAccounts:
    return current_app.extensions["fcm"]


# Google's OAuth token endpoint: {"error", "error_description"}, 400 for every refusal here.
def _refused_grant(error: str, description: str) -> Refused:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = 400
    return Refused(response)


def _service_account(entry: object) -> ServiceAccount:
    """A service account from its public registration; InvalidSettings naming every bad field."""
    if not isinstance(entry, dict):
        raise InvalidSettings({"_schema": ["Invalid input type."]})
    errors = {
        name: ["Must be a non-empty string."]
        for name in SERVICE_ACCOUNT_FIELDS
        if not isinstance(entry.get(name), str) or not entry[name]
    }
    if errors:
        raise InvalidSettings(errors)
    try:
        public_key = serialization.load_pem_public_key(entry["public_key"].encode())
    except (ValueError, UnsupportedAlgorithm):
        public_key = None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidSettings({"public_key": ["Not a PEM RSA public key."]})
    return ServiceAccount(
        entry["client_email"], entry["project_id"], entry["private_key_id"], crypt.RSAVerifier(public_key)
    )


def load_service_accounts(path: str) -> list[ServiceAccount]:
    """The service accounts of a JSON list of registrations; ValueError if the file does not give one."""
    try:
        entries = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(entries, list):
        raise ValueError(f"{path}: not a JSON list of service accounts")
    accounts = []
    for index, entry in enumerate(entries):
        try:
            accounts.append(_service_account(entry))
        except InvalidSettings as exc:
            raise ValueError(f"{path}, service account {index}: {exc}") from exc
    return accounts


def make_fcm_service_account(
    token_uri: str, project_id: str = "nootification-stub"
) -> tuple[dict[str, str], dict[str, str]]:
    """A new RSA service account: the key file a Google console downloads, and its registration here."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_email = f"fcm-sender-{secrets.token_hex(4)}@{project_id}.iam.gserviceaccount.com"
    private_key_id = secrets.token_hex(20)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    service_account = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": private_key_id,
        "private_key": private_pem.decode(),
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**21)).zfill(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + urllib.parse.quote(client_email),
        "universe_domain": "googleapis.com",
    }
    registration = {
        "client_email": client_email,
        "project_id": project_id,
        "public_key": public_pem.decode(),
        "private_key_id": private_key_id,
    }
    return service_account, registration


def write_fcm_account_files(service_account_path: Path, accounts_path: Path, token_uri: str) -> bool:
    """Write a new service account's key file (mode 0600) and the stub's list holding its registration.

    False, writing nothing, when both files exist; FileExistsError when only one does, so that a key file
    somebody uses is never replaced.
    """
    exists = [path.exists() for path in (service_account_path, accounts_path)]
    if all(exists):
        return False
    if any(exists):
        raise FileExistsError(f"only one of {service_account_path} and {accounts_path} exists")
    service_account, registration = make_fcm_service_account(token_uri)
    descriptor = os.open(service_account_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(service_account, file, indent=2)
    with accounts_path.open("x") as file:
        json.dump([registration], file, indent=2)
    return True


@bp.post("/fcm/service-accounts")
def register_service_account() -> ResponseReturnValue:
    """Trust a service account's public key, as creating a key in a cloud console does.

    Body: {client_email, project_id, public_key (PEM), private_key_id}; a second registration of the same
    client_email replaces its key.
    """
    try:
        account = _service_account(json_object())
    except InvalidSettings as exc:
        return json_error(400, "invalid service account", exc.errors)
    _accounts().register(account)
    registered = {
        "client_email": account.client_email,
        "project_id": account.project_id,
        "private_key_id": account.private_key_id,
    }
    return registered, 201


def _short_lived(claims: Mapping[str, Any]) -> bool:
    issued, expires, now = claims.get("iat"), claims.get("exp"), time.time()
    return (
        is_number(issued)
        and is_number(expires)
        and issued <= now < expires
        and expires - issued <= GRANT_MAX_LIFETIME
    )


def _granting_account(form: Mapping[str, str]) -> ServiceAccount:
    """The service account whose signed assertion `form` carries, checked as Google does; else Refused."""
    if form.get("grant_type") != JWT_BEARER_GRANT:
        raise _refused_grant("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
    if not form.get("assertion"):
        raise _refused_grant("invalid_request", "Missing required parameter: assertion")
    try:
        assertion = Jwt.parse(form["assertion"])
    except ValueError:
        raise _refused_grant("invalid_grant", "Invalid JWT: malformed assertion.") from None
    issuer = assertion.claims.get("iss")
    account = _accounts().account(issuer) if isinstance(issuer, str) else None
    if account is None:
        raise _refused_grant("invalid_grant", "Invalid grant: account not found")
    known_key = assertion.header.get("kid") in (None, account.private_key_id)
    if not known_key or not assertion.signed_by(account.verifier, "RS256"):
        raise _refused_grant("invalid_grant", "Invalid JWT Signature.")
    # google-auth always names Google's endpoint, whatever token_uri it posts to; a sender may name this one.
    if assertion.claims.get("aud") not in (GOOGLE_TOKEN_URL, request.base_url):
        raise _refused_grant("invalid_grant", "Invalid JWT: Failed audience check.")
    if not _short_lived(assertion.claims):
        raise _refused_grant("invalid_grant", SHORT_LIVED_GRANT)
    if not FCM_SCOPES & set(str(assertion.claims.get("scope", "")).split()):
        raise _refused_grant("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return account


@bp.post("/fcm/token")
def google_token() -> ResponseReturnValue:
    """Google's OAuth token endpoint for a service account's signed JWT (RFC 7523) as google-auth sends it."""
    account = _granting_account(request.form)
    expires_in = current_app.config["STUB_FCM_TOKEN_EXPIRES_IN"]
    token = _accounts().issue_token(account, expires_in)
    stub_state().tally("fcm_tokens_issued")
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}


# FCM HTTP v1: {"error": {code, message, status, details}}, an FcmError in details telling what FCM refused.
def _google_refusal(code: int, message: str, error_code: str | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": GOOGLE_STATUSES.get(code, "UNKNOWN")}
    if error_code is not None:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    response = jsonify({"error": error})
    response.status_code = code
    return response


def _check_fcm_caller(project_id: str) -> None:
    """Refused unless the bearer token is one the stub issued, unexpired, to an account of `project_id`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    issued = _accounts().access_token(token) if scheme.lower() == "bearer" else None
    if issued is None or issued.expires_at <= time.time():
        raise Refused(_google_refusal(401, UNAUTHENTICATED_MESSAGE))
    if issued.project_id != project_id:
        denied = (
            "Permission 'cloudmessaging.messages.create' denied on resource "
            f"'//cloudresourcemanager.googleapis.com/projects/{project_id}' (or it may not exist)."
        )
        raise Refused(_google_refusal(403, denied))


def _invalid_value(path: str, kind: str, value: object) -> str:
    return f"Invalid value at '{path}' ({kind}), {json.dumps(value)}"


def _string_map_problem(entries: object, path: str) -> str | None:
    if not isinstance(entries, dict):
        return _invalid_value(path, "type.googleapis.com/google.protobuf.Struct", entries)
    for index, value in enumerate(entries.values()):
        if not isinstance(value, str):
            return _invalid_value(f"{path}[{index}].value", "TYPE_STRING", value)
    return None


def _fcm_target_problem(message: Mapping[str, Any]) -> str | None:
    targets = [name for name in FCM_TARGETS if name in message]
    if not targets:
        return "Recipient of the message is not set."
    if len(targets) > 1:
        return f"Invalid value at 'message' (oneof field 'target' is already set. Cannot set '{targets[1]}')"
    if not isinstance(message[targets[0]], str):
        return _invalid_value(f"message.{targets[0]}", "TYPE_STRING", message[targets[0]])
    return None


def _android_problem(android: Mapping[str, Any]) -> str | None:
    priority, ttl = android.get("priority", "NORMAL"), android.get("ttl", "0s")
    if not isinstance(priority, str) or priority not in ANDROID_PRIORITIES:
        return _invalid_value("message.android.priority", ANDROID_PRIORITY_TYPE, priority)
    if not isinstance(ttl, str) or not DURATION.fullmatch(ttl):
        return _invalid_value("message.android.ttl", "type.googleapis.com/google.protobuf.Duration", ttl)
    return None


def _fcm_message_problem(message: object) -> str | None:
    """What FCM would say is wrong with a send's `message`, naming the field, or None."""
    if not isinstance(message, dict):
        return _invalid_value("message", "type.googleapis.com/google.firebase.fcm.v1.Message", message)
    problem = _fcm_target_problem(message) or _string_map_problem(message.get("data", {}), "message.data")
    if problem is not None:
        return problem
    parts = {name: message.get(name, {}) for name in ("notification", "android", "apns")}
    for name, part in parts.items():
        if not isinstance(part, dict):
            return _invalid_value(f"message.{name}", "TYPE_MESSAGE", part)
    return _android_problem(parts["android"]) or _string_map_problem(
        parts["apns"].get("headers", {}), "message.apns.headers"
    )


@bp.post("/fcm/v1/projects/<project_id>/messages:send")
def fcm_send(project_id: str) -> ResponseReturnValue:
    """FCM HTTP v1 messages:send with an access token from /fcm/token; 200 with the message's name.

    FCM has no idempotency key, so every send counts.
    """
    fault = inject(stub_state())
    if fault is not None:
        error_code = FCM_FAULT_ERROR_CODES.get(fault.status, "UNSPECIFIED_ERROR")
        return faulty(_google_refusal(fault.status, f"injected failure ({fault.reason})", error_code), fault)
    _check_fcm_caller(project_id)
    message = (json_object() or {}).get("message")
    problem = _fcm_message_problem(message)
    if problem is not None:
        return _google_refusal(400, problem, "INVALID_ARGUMENT")
    device = message.get("token", "")
    for prefix, code, text, error_code in FCM_TOKEN_REFUSALS:
        if device.startswith(prefix):
            return _google_refusal(code, text, error_code)
    notification, data = message.get("notification", {}), message.get("data", {})
    parts = (notification.get("title"), notification.get("body"))
    text = "\n".join(part for part in parts if isinstance(part, str) and part)
    target = device or message.get("topic") or message.get("condition")
    store(stub_state(), "fcm", target, text, message, alert_uuid=data.get("alert_uuid"))
    return {"name": f"projects/{project_id}/messages/0:{time.time_ns() // 1000}%{secrets.token_hex(8)}"}


def token_expires_in() -> int:
    """How long an access token is good for: STUB_FCM_TOKEN_EXPIRES_IN seconds; ValueError if not a number."""
    raw = os.environ.get("STUB_FCM_TOKEN_EXPIRES_IN", str(DEFAULT_TOKEN_EXPIRES_IN))
    if not WHOLE_SECONDS.fullmatch(raw):
        raise ValueError(f"STUB_FCM_TOKEN_EXPIRES_IN must be a whole number of seconds, not {raw!r}")
    return int(raw)
