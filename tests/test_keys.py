"""The key ring: rotation that breaks no link nor pseudonym, and weak keys refused at start."""

import hashlib
import hmac
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from nootification import create_app
from nootification.config import read_key_ring
from nootification.extensions import db
from nootification.models import AuditEntry
from nootification.services.keys import (
    LINKS,
    TICKETS,
    WeakKeyError,
    derived_key,
    key_ring,
    new_key,
    pseudonym_key,
    weak_key_reason,
)
from nootification.services.staff_links import LINK_PATH, read_token, staff_link
from nootification.staff.vendor_events import pseudonym
from tests.helpers.config import make_config
from tests.helpers.factories import alert_payload, make_location, make_user

ROOT = Path(__file__).resolve().parent.parent


def ring_config(environ: dict[str, str]) -> dict:
    """The settings of a process started with this environment, as far as the key ring goes."""
    secret_key, fallbacks = read_key_ring(environ)
    return {"SECRET_KEY": secret_key, "SECRET_KEY_FALLBACKS": fallbacks, "PUBLIC_URL": "https://noot.example"}


def token_of(config: dict, expires: datetime, alert_uuid: str, user_uuid: str) -> str:
    return staff_link(alert_uuid, user_uuid, expires, config).rsplit(LINK_PATH, 1)[1]


def test_the_ring_comes_from_the_key_file_lines_or_the_fallbacks(tmp_path):
    first, second, third = new_key(), new_key(), new_key()
    key_file = tmp_path / "secret-key"
    key_file.write_text(f"{first}\n\n{second}\n")
    assert read_key_ring({"SECRET_KEY_FILE": str(key_file)}) == (first, (second,))
    assert read_key_ring({"SECRET_KEY": first, "SECRET_KEY_FALLBACKS": f"{second}, {third}"}) == (
        first,
        (second, third),
    )
    assert read_key_ring({"SECRET_KEY": first, "SECRET_KEY_FALLBACKS": f"{second}\n{third}"})[1] == (
        second,
        third,
    )
    assert read_key_ring({}) == (None, ())


def test_pseudonyms_stay_what_they_were_before_the_ring(db):
    """A one-key ring gives the vendor the pseudonyms it knew: an HMAC of "staff:<uuid>" under SECRET_KEY."""
    camille = make_user(name="Camille")
    key = new_key()
    expected = hmac.new(key.encode(), f"staff:{camille.user_uuid}".encode(), hashlib.sha256).hexdigest()
    assert pseudonym(camille, pseudonym_key({"SECRET_KEY": key})) == f"staff-{expected[:20]}"


def test_each_use_derives_its_own_key_from_the_ring():
    key = new_key()
    assert len({derived_key(key, LINKS), derived_key(key, TICKETS), key.encode()}) == 3


def test_rotation_keeps_old_links_valid_signs_new_ones_with_the_new_key_and_keeps_pseudonyms(
    app, client, anonymous, tmp_path
):
    camille = make_user(make_location(), name="Camille")
    payload = alert_payload()
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    key_file = tmp_path / "secret-key"
    key_file.write_text(new_key() + "\n")
    environ = {"SECRET_KEY_FILE": str(key_file)}
    before = ring_config(environ)
    expires = datetime.now(UTC) + timedelta(hours=1)
    old_link = token_of(before, expires, payload["alert_uuid"], camille.user_uuid)
    known_pseudonym = pseudonym(camille, pseudonym_key(before))

    app.config.update(SECRET_KEY=before["SECRET_KEY"], SECRET_KEY_FILE=str(key_file))
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert f"wrote a new signing key first in {key_file}; kept 1 older key(s)" in result.output
    assert before["SECRET_KEY"] not in result.output
    rotated = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "keys.rotate")).one()
    assert (rotated.actor_name, rotated.target_id) == ("cli: keys rotate", str(key_file))
    assert (rotated.before, rotated.after) == ({"keys": 1}, {"keys": 2})

    after = ring_config(environ)
    assert after["SECRET_KEY"] != before["SECRET_KEY"]
    assert after["SECRET_KEY_FALLBACKS"] == (before["SECRET_KEY"],)
    assert key_file.read_text().splitlines() == list(key_ring(after))
    now = datetime.now(UTC)
    assert read_token(old_link, key_ring(after), now).user_uuid == camille.user_uuid
    new_link = token_of(after, expires, payload["alert_uuid"], camille.user_uuid)
    assert new_link != old_link
    assert read_token(new_link, [after["SECRET_KEY"]], now).user_uuid == camille.user_uuid
    with pytest.raises(Exception, match="not valid"):
        read_token(new_link, [before["SECRET_KEY"]], now)
    assert pseudonym(camille, pseudonym_key(after)) == known_pseudonym

    # Served: a process restarted on the rotated file takes the old link and the new one.
    app.config.update(SECRET_KEY=after["SECRET_KEY"], SECRET_KEY_FALLBACKS=after["SECRET_KEY_FALLBACKS"])
    assert anonymous.get(f"/s/{old_link}/state").status_code == 200
    assert anonymous.get(f"/s/{new_link}/state").status_code == 200
    app.config.update(SECRET_KEY_FALLBACKS=())
    assert anonymous.get(f"/s/{old_link}/state").status_code == 404


def test_rotate_without_a_key_file_or_with_the_key_from_the_environment_says_why_and_writes_nothing(
    app, tmp_path
):
    app.config["SECRET_KEY_FILE"] = ""
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 1 and "SECRET_KEY_FILE is not set" in result.output

    key_file = tmp_path / "secret-key"
    key_file.write_text(new_key() + "\n")
    written = key_file.read_text()
    app.config.update(SECRET_KEY=new_key(), SECRET_KEY_FILE=str(key_file))
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 1 and "unset SECRET_KEY first" in result.output
    assert key_file.read_text() == written


def test_rotate_help_tells_what_it_does(app):
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--help"])
    assert "new random key first in SECRET_KEY_FILE" in result.output
    assert "older ones still verify" in result.output


# Weak keys.


def production_config(**overrides) -> dict:
    return make_config(TESTING=False, **overrides)


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ({"SECRET_KEY": "short-but-random-Zx81"}, "SECRET_KEY is shorter than 32 bytes"),
        ({"SECRET_KEY": "whsec_c3R1Yi1vbmx5LXdlYmhvb2stc2VjcmV0"}, "SECRET_KEY is a value written in"),
        (
            {"SECRET_KEY": "a" * 64, "SECRET_KEY_FALLBACKS": ("compose-only-change-me",)},
            "older key 1 of the ring",
        ),
    ],
)
def test_a_weak_key_stops_the_start_with_a_clear_message(ring, message):
    with pytest.raises(WeakKeyError, match=message) as refused:
        create_app(production_config(**ring))
    for key in (ring["SECRET_KEY"], *ring.get("SECRET_KEY_FALLBACKS", ())):
        if key != "a" * 64:
            assert key not in str(refused.value)


def test_a_strong_key_or_none_starts(app):
    create_app(production_config(SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY=new_key()))
    create_app(production_config(SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY=None))


# NAME=value, NAME: value, NAME ?= value, ${NAME:-value}, "NAME": "value", NAME = "value"; NAME has SECRET.
ASSIGNED_SECRET = re.compile(
    r"""\b[A-Z_]*SECRETS?[A-Z_]*\b["']?\s*(?:\?=|:-|=|:)\s*["']?([^\s"'${}()\[\],]+)"""
)


def repository_secrets() -> set[str]:
    """The literal values assigned to a secret's name in the repository's tracked files."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = set()
    for name in tracked.splitlines():
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".ico", ".woff2", ".gz"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found.update(
            value for value in ASSIGNED_SECRET.findall(text) if not re.fullmatch(r"[A-Za-z_.]+", value)
        )
    return found


def test_every_secret_written_in_the_repository_is_refused_as_a_key():
    found = repository_secrets()
    # The scan sees the values it must: the test key, the quick start's webhook secret.
    assert {"test-only-secret-key", "whsec_c3R1Yi1vbmx5LXdlYmhvb2stc2VjcmV0"} <= found
    assert not [value for value in found if weak_key_reason(value) is None]
    # Compose's placeholder before it made a random key: a deployment may still carry it.
    assert weak_key_reason("compose-only-change-me") is not None
