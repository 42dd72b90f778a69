"""JWTs and base64url as Web Push (VAPID) and Google's token endpoint carry them."""

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import google.auth.jwt
from google.auth import crypt

BASE64URL = re.compile(r"[A-Za-z0-9_-]*=*")


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: object) -> bytes:
    """Bytes from base64url, padded or not; ValueError for anything else."""
    if not isinstance(text, str) or not BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    unpadded = text.rstrip("=")
    return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))


def is_number(value: object) -> bool:
    """Whether a claim is a JSON number (a bool is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Jwt:
    """A JWT taken apart, its signature not checked yet."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signed: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> Self:
        """Split `token`; ValueError unless header and claims are JSON objects and the signature base64url."""
        signed, _, signature = token.rpartition(".")
        header = google.auth.jwt.decode_header(token)
        claims = google.auth.jwt.decode(token, verify=False)
        return cls(header, claims, signed.encode(), b64url_decode(signature))

    def signed_by(self, verifier: crypt.Verifier, algorithm: str) -> bool:
        """Whether the header names `algorithm` and `verifier` accepts the signature."""
        return self.header.get("alg") == algorithm and verifier.verify(self.signed, self.signature)
