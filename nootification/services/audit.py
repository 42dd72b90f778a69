"""The audit log: one row per administrative change, in the caller's transaction, and reading it back."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from nootification.extensions import db
from nootification.models import (
    ApiToken,
    AuditEntry,
    ContactPoint,
    Location,
    RouteRule,
    Silence,
    Template,
    User,
)
from nootification.services.pages import Page, read_page

# Where the app keeps the function that says who is acting now (auth's current_actor): services cannot
# import auth, which imports them.
ACTOR_KEY = "nootification.actor"
MASK = "[masked]"
# Personal fields and secrets, wherever they appear in a before or after (nested ones too): a phone number,
# email, chat id or push endpoint is a contact point's address; its options hold push keys.
MASKED_FIELDS = frozenset({"name", "push_address", "address", "options", "p256dh", "auth", "secret", "token"})


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a bearer token (id and name) and the client's address, or a CLI command."""

    token_id: int | None
    name: str
    address: str | None = None


SYSTEM = Actor(token_id=None, name="system")


def mask(value: Any) -> Any:
    """The value with every field named in MASKED_FIELDS replaced by MASK (unset and empty ones kept)."""
    if isinstance(value, dict):
        return {
            key: MASK if key in MASKED_FIELDS and item not in (None, "", {}, []) else mask(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask(item) for item in value]
    return value


def changed_fields(before: dict | None, after: dict | None) -> list[str]:
    """The top-level fields whose values differ, compared before masking (a masked change still shows)."""
    before, after = before or {}, after or {}
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def user_state(user: User) -> dict:
    """A user as the audit log records it."""
    return {
        "name": user.name,
        "level": user.level.value,
        "push_address": user.push_address,
        "locale": user.locale,
        "locations": user.location_names,
    }


def location_state(location: Location) -> dict:
    """A shop, its escalation and off-hours tiers as the audit log records them; its name is the target id."""
    return {
        "display_name": location.display_name,
        "timezone": location.timezone,
        "locale": location.locale,
        "escalate_after": location.escalate_after,
        "claim_follow_up": location.claim_follow_up,
        "escalation": location.escalation,
        "ladder": location.ladder,
        "group_window_seconds": location.group_window_seconds,
        "opening_hours": location.opening_hours,
        "closures": location.closures,
        "off_hours_tier": location.off_hours_tier,
    }


def contact_point_state(point: ContactPoint) -> dict:
    """A contact point as the audit log records it."""
    return {
        "channel": point.channel,
        "address": point.address,
        "options": point.options,
        "enabled": point.enabled,
        "level": point.level.value if point.level else None,
    }


def preference_state(user: User) -> dict:
    """A user's level and each stored channel's level and switch."""
    return {
        "level": user.level.value,
        "channels": {
            point.channel: {"level": point.level.value if point.level else None, "enabled": point.enabled}
            for point in user.contact_points
        },
    }


def route_state(rule: RouteRule) -> dict:
    """A routing rule as the audit log records it."""
    return {
        "label": rule.label,
        "location": rule.location.name if rule.location else None,
        "channels": list(rule.channels),
    }


def template_state(template: Template) -> dict:
    """A template as the audit log records it."""
    return {
        "label": template.label,
        "channel": template.channel,
        "locale": template.locale,
        "subject": template.subject,
        "body": template.body,
    }


def silence_state(silence: Silence) -> dict:
    """A silence as the audit log records it; its id is the target id."""
    return {
        "location": silence.location.name,
        "labels": list(silence.labels),
        "starts_at": _when(silence.starts_at),
        "ends_at": _when(silence.ends_at),
        "comment": silence.comment,
        "include_critical": silence.include_critical,
        "ended_at": _when(silence.ended_at),
    }


def token_state(token: ApiToken) -> dict:
    """A bearer token as the audit log records it: never its secret or hash."""
    return {
        "token_name": token.name,
        "scopes": list(token.scopes),
        "user": token.user.user_uuid if token.user else None,
        "revoked_at": _when(token.revoked_at),
    }


def current_actor() -> Actor:
    """Who is acting now, as the app's registered function (auth.current_actor) says; SYSTEM without one."""
    provider: Callable[[], Actor] | None = current_app.extensions.get(ACTOR_KEY)
    return provider() if provider else SYSTEM


def record(
    action: str, *, target_type: str, target_id: str | int, before: dict | None, after: dict | None
) -> AuditEntry:
    """Add an audit row for a change to the session, uncommitted: it commits with the change or not at all."""
    actor = current_actor()
    entry = AuditEntry(
        actor_token_id=actor.token_id,
        actor_name=actor.name,
        actor_address=actor.address,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=mask(before),
        after=mask(after),
        changed=changed_fields(before, after),
    )
    db.session.add(entry)
    return entry


def list_entries(
    *,
    page: int = 1,
    page_size: int = 50,
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page:
    """Audit rows matching every given filter, newest first."""
    conditions = []
    if target_type is not None:
        conditions.append(AuditEntry.target_type == target_type)
    if target_id is not None:
        conditions.append(AuditEntry.target_id == target_id)
    if action is not None:
        conditions.append(AuditEntry.action == action)
    if since is not None:
        conditions.append(AuditEntry.at >= since)
    if until is not None:
        conditions.append(AuditEntry.at < until)
    order = [AuditEntry.at.desc(), AuditEntry.id.desc()]
    return read_page(AuditEntry, conditions, order, page=page, page_size=page_size)
