"""Routing rules: which channels an alert goes out on, by label, for one shop or for all."""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from nootification.errors import Conflict, InvalidInput, NotFound
from nootification.extensions import db
from nootification.models import Alert, RouteRule
from nootification.senders import channels as registered_channels
from nootification.services.audit import record, route_state
from nootification.services.cache import PeriodicRead
from nootification.services.directory import get_location

ANY_LABEL = "*"


@dataclass(frozen=True)
class Rule:
    """A routing rule's key and channels, detached from the session so it can be kept."""

    location_id: int | None
    label: str
    channels: frozenset[str]


def _stored_rules() -> list[Rule]:
    rows = db.session.execute(sa.select(RouteRule.location_id, RouteRule.label, RouteRule.channels))
    return [Rule(location_id, label, frozenset(channels)) for location_id, label, channels in rows]


# Every alert reads the rules; there are few and they change rarely.
rules_cache = PeriodicRead(_stored_rules)


def routed_channels(alert: Alert) -> set[str] | None:
    """The channels the most specific matching rule allows; None when no rule applies (every channel).

    Precedence: this shop and this label, this shop and any label, every shop and this label, every
    shop and any label.
    """
    location_id = alert.location.id
    rules = [
        rule
        for rule in rules_cache.get()
        if rule.location_id in (location_id, None) and rule.label in (alert.label, ANY_LABEL)
    ]
    if not rules:
        return None

    def precedence(rule: Rule) -> tuple[bool, bool]:
        return (rule.location_id is None, rule.label == ANY_LABEL)

    return set(min(rules, key=precedence).channels)


def list_routes() -> list[RouteRule]:
    """Every rule, global ones first."""
    return list(
        db.session.scalars(sa.select(RouteRule).order_by(RouteRule.location_id.nullsfirst(), RouteRule.id))
    )


def get_route(route_id: int) -> RouteRule:
    """The rule with this id."""
    rule = db.session.get(RouteRule, route_id)
    if rule is None:
        raise NotFound("No route with this id.")
    return rule


def _check(label: str, channels: list[str]) -> None:
    if label != ANY_LABEL and label not in current_app.config["ALERT_LABELS"]:
        raise InvalidInput(
            f"Unknown label; expected one of: {', '.join(current_app.config['ALERT_LABELS'])}, *.",
            field="label",
        )
    unknown = sorted(set(channels) - set(registered_channels()))
    if unknown:
        raise InvalidInput(f"Unknown channels: {', '.join(unknown)}.", field="channels")


def _refuse_duplicate(location_id: int | None, label: str, route_id: int | None = None) -> None:
    duplicate = db.session.scalar(
        sa.select(RouteRule.id).where(
            RouteRule.location_id.is_(None) if location_id is None else RouteRule.location_id == location_id,
            RouteRule.label == label,
            RouteRule.id != route_id if route_id is not None else sa.true(),
        )
    )
    if duplicate is not None:
        raise Conflict("A route for this location and label exists.", field="label")


def create_route(*, label: str, channels: list[str], location: str | None = None) -> RouteRule:
    """Add a rule; there is at most one per (location, label)."""
    _check(label, channels)
    location_id = get_location(location).id if location else None
    _refuse_duplicate(location_id, label)
    rule = RouteRule(location_id=location_id, label=label, channels=sorted(set(channels)))
    db.session.add(rule)
    db.session.flush()  # the rule's id names it in the audit log
    record("route.create", target_type="route", target_id=rule.id, before=None, after=route_state(rule))
    db.session.commit()
    rules_cache.forget()
    return rule


def update_route(route_id: int, *, channels: list[str]) -> RouteRule:
    """Change the channels of a rule."""
    rule = get_route(route_id)
    _check(rule.label, channels)
    before = route_state(rule)
    rule.channels = sorted(set(channels))
    record("route.update", target_type="route", target_id=route_id, before=before, after=route_state(rule))
    db.session.commit()
    rules_cache.forget()
    return rule


def delete_route(route_id: int) -> None:
    """Remove a rule."""
    rule = get_route(route_id)
    record("route.delete", target_type="route", target_id=route_id, before=route_state(rule), after=None)
    db.session.delete(rule)
    db.session.commit()
    rules_cache.forget()
