"""Bearer tokens: created and revoked by an operator, stored only as hashes, each with its scopes."""

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from nootification.errors import InvalidInput, NotFound
from nootification.extensions import db
from nootification.models import ApiToken, User, utcnow
from nootification.services.audit import record, token_state
from nootification.services.directory import get_user

ALERTS_WRITE = "alerts:write"
PREFERENCES_SELF = "preferences:self"
ADMIN = "admin"
SCOPES = (ALERTS_WRITE, PREFERENCES_SELF, ADMIN)
TOKEN_PREFIX = "noot_"
DEMO_PREFIX = "demo:"
# A hot path's statement, built once (see delivery/lease.py): every authenticated request runs it.
LIVE_TOKEN_BY_HASH = sa.select(ApiToken).where(
    ApiToken.token_hash == sa.bindparam("token_hash"), ApiToken.revoked_at.is_(None)
)


def hash_token(token: str) -> str:
    """The stored form of a token; tokens are long and random, so a plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token as issued: the secret (shown once) and its stored record."""

    token: str
    record: ApiToken


def create_token(*, name: str, scopes: list[str], user_uuid: str | None = None) -> IssuedToken:
    """Issue a token; `preferences:self` tokens belong to one user."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(f"Scopes must be among: {', '.join(SCOPES)}.", field="scopes")
    user = get_user(user_uuid) if user_uuid else None
    if PREFERENCES_SELF in scopes and user is None:
        raise InvalidInput("A preferences:self token needs a user.", field="user")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    stored = ApiToken(name=name, token_hash=hash_token(token), scopes=sorted(set(scopes)), user=user)
    db.session.add(stored)
    db.session.flush()  # the token's id names it in the audit log
    record("token.create", target_type="token", target_id=stored.id, before=None, after=token_state(stored))
    db.session.commit()
    return IssuedToken(token, stored)


def authenticate(token: str) -> ApiToken | None:
    """The live token record for a presented token, or None."""
    return db.session.scalar(LIVE_TOKEN_BY_HASH, {"token_hash": hash_token(token)})


def live_token(token_id: int) -> ApiToken | None:
    """The token record with this id, unless it is revoked."""
    return db.session.scalar(
        sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    )


def list_tokens() -> list[ApiToken]:
    """Every token record, newest first."""
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())))


def revoke_token(token_id: int) -> ApiToken:
    """Revoke a token; it is refused from then on."""
    stored = db.session.get(ApiToken, token_id)
    if stored is None:
        raise NotFound("No token with this id.")
    _revoke(stored)
    db.session.commit()
    return stored


def _revoke(token: ApiToken) -> None:
    before = token_state(token)
    token.revoked_at = token.revoked_at or utcnow()
    record("token.revoke", target_type="token", target_id=token.id, before=before, after=token_state(token))


def issue_demo_tokens(path: Path) -> dict:
    """Replace the demo tokens (admin, alerts:write, preferences:self per user) and write them to `path`."""
    for token in db.session.scalars(
        sa.select(ApiToken).where(ApiToken.name.startswith(DEMO_PREFIX), ApiToken.revoked_at.is_(None))
    ):
        _revoke(token)
    db.session.commit()
    tokens = {
        "admin": create_token(name=f"{DEMO_PREFIX}admin", scopes=[ADMIN]).token,
        "alerts": create_token(name=f"{DEMO_PREFIX}alerts", scopes=[ALERTS_WRITE]).token,
        "users": {
            user.user_uuid: create_token(
                name=f"{DEMO_PREFIX}{user.user_uuid}", scopes=[PREFERENCES_SELF], user_uuid=user.user_uuid
            ).token
            for user in db.session.scalars(sa.select(User).order_by(User.id))
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokens, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return tokens
