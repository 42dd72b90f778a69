"""Whether a callback is Twilio's: `X-Twilio-Signature`, as Twilio's helper libraries compute it."""

import base64
import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Twilio-Signature"


def signature(auth_token: str, url: str, fields: Iterable[tuple[str, str]]) -> str:
    """Base64 HMAC-SHA1 with the auth token over the public URL, then each form field's name and value,
    sorted by name (a name's several values sorted too; a repeated pair counted once, as Twilio does)."""
    signed = url + "".join(name + value for name, value in sorted(set(fields)))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def is_signed(auth_token: str, url: str, fields: Iterable[tuple[str, str]], given: str) -> bool:
    """Whether `given` is the signature of this URL and these fields; compared in constant time."""
    return hmac.compare_digest(signature(auth_token, url, fields).encode(), given.encode())
