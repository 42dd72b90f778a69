"""The key ring: SECRET_KEY signs, SECRET_KEY_FALLBACKS still verify, and each use derives its own key.

Links and ops tickets never use a key of the ring as it is: each derives its own with HKDF (SHA-256) under
its own label, so no value made for one use is valid for another. They are signed with the first key and
verified with every key of the ring, so that a rotation does not break those already out. Pseudonyms are a
labelled HMAC ("staff:" + the user's UUID, as before the ring) under the ring's last key, the oldest, which
`flask keys rotate` never replaces: a vendor's pseudonyms stay the same across rotations and this upgrade.
"""

import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask

from nootification.errors import Conflict
from nootification.extensions import db
from nootification.services.audit import record

LINKS = b"nootification staff links"
TICKETS = b"nootification ops tickets"

MIN_KEY_BYTES = 32
# Secret values written in this repository (examples, defaults, tests): whoever reads the code knows them.
# tests/test_keys.py scans the repository's files and fails when a new one is missing here.
KNOWN_KEYS = frozenset(
    {
        "compose-only-change-me",
        "test-only-secret-key",
        "telegram-webhook-secret-42",
        "slack-signing-secret-42",
        "whsec_c3R1Yi1vbmx5LXdlYmhvb2stc2VjcmV0",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_dmVuZG9yLXRlc3Qtc2VjcmV0LWtleQ==",
        "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=",
    }
)


class WeakKeyError(RuntimeError):
    """A key of the ring anyone could guess: the service refuses to start with it."""


def key_ring(config: Mapping) -> tuple[str, ...]:
    """The ring's keys, the signing one first; empty when SECRET_KEY is not set."""
    if not config.get("SECRET_KEY"):
        return ()
    return (config["SECRET_KEY"], *(key for key in config.get("SECRET_KEY_FALLBACKS") or () if key))


@lru_cache(maxsize=64)
def derived_key(key: str, label: bytes) -> bytes:
    """The 32-byte key that one use (`label`) derives from one key of the ring."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(key.encode())


def signing_key(config: Mapping, label: bytes) -> bytes | None:
    """The key that signs for this use: derived from the ring's first key; None without SECRET_KEY."""
    ring = key_ring(config)
    return derived_key(ring[0], label) if ring else None


def verifying_keys(config: Mapping, label: bytes) -> list[bytes]:
    """Every key that still verifies for this use, the signing one first."""
    return [derived_key(key, label) for key in key_ring(config)]


def pseudonym_key(config: Mapping) -> bytes | None:
    """The key of vendor pseudonyms: the ring's oldest key, which rotation keeps; None without a ring.

    The pseudonym's HMAC carries its own label (outcome_events.pseudonym), and neither links nor tickets use a
    key of the ring underived: the value serves no other use.
    """
    ring = key_ring(config)
    return ring[-1].encode() if ring else None


def weak_key_reason(key: str) -> str | None:
    """Why a key must not be used (too short, or written in this repository), or None when it may."""
    if key in KNOWN_KEYS:
        return "is a value written in nootification's repository, known to anyone who reads it"
    if len(key.encode()) < MIN_KEY_BYTES:
        return f"is shorter than {MIN_KEY_BYTES} bytes"
    return None


def check_key_ring(config: Mapping) -> None:
    """WeakKeyError naming the first weak key of the ring (by its place, never its value)."""
    for place, key in enumerate(key_ring(config)):
        reason = weak_key_reason(key)
        if reason is not None:
            name = "SECRET_KEY" if place == 0 else f"older key {place} of the ring (SECRET_KEY_FALLBACKS)"
            raise WeakKeyError(
                f"{name} {reason}; the service refuses to start with it. Replace it with a random key, e.g. "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )


def refuse_weak_keys(app: Flask) -> None:
    """Stop the application's start on a weak key of the ring; the test suite (TESTING) may use short ones."""
    if not app.testing:
        check_key_ring(app.config)


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the file written, and how many keys it held before and holds now."""

    path: Path
    keys_before: int
    keys_after: int


def new_key() -> str:
    """A random key of 256 bits, as 64 hexadecimal characters."""
    return secrets.token_hex(32)


def rotate_key_file(path: Path) -> Rotation:
    """Put a new random key first in the key file, keeping the older ones after it (created if missing)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    older = [line.strip() for line in lines if line.strip()]
    keys = [new_key(), *older]
    # Written beside it and renamed: a process starting meanwhile reads the old file or the new, never half.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write("\n".join(keys) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Rotation(path=path, keys_before=len(older), keys_after=len(keys))


def rotate_keys(config: Mapping) -> Rotation:
    """Rotate the ring kept in SECRET_KEY_FILE: a new key signs, the older ones still verify.

    Conflict when there is no file to rotate, or when SECRET_KEY comes from the environment, which the file
    does not override.
    """
    if not config["SECRET_KEY_FILE"]:
        raise Conflict(
            "SECRET_KEY_FILE is not set: rotate by hand, with a new SECRET_KEY and the old one first in "
            "SECRET_KEY_FALLBACKS.",
            field="SECRET_KEY_FILE",
        )
    path = Path(config["SECRET_KEY_FILE"])
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    if config["SECRET_KEY"] and config["SECRET_KEY"] not in (line.strip() for line in lines):
        raise Conflict(
            "SECRET_KEY is set in the environment, so the file SECRET_KEY_FILE names is not read: "
            "unset SECRET_KEY first.",
            field="SECRET_KEY",
        )
    keys_before = len([line for line in lines if line.strip()])
    # The audit row is added first and committed once the file is written: a failed write leaves no row.
    record(
        "keys.rotate",
        target_type="key_ring",
        target_id=str(path),
        before={"keys": keys_before},
        after={"keys": keys_before + 1},
    )
    try:
        rotation = rotate_key_file(path)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return rotation
