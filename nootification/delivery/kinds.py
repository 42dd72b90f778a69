"""The kinds of outbound record besides an alert's delivery, and how each one's message is built.

The staff wing knows what a vendor event or a notice says; the engine only sends it. So the engine asks this
registry, which the application factory fills from the staff modules: delivery/ never imports staff/.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nootification.delivery.lease import LeasedDelivery
from nootification.models import DeliveryKind
from nootification.senders.base import Message, MessageSender

BuildMessage = Callable[[LeasedDelivery, MessageSender], Message]
"""Builds the message of a leased record of one kind; raises UndeliverableError when it cannot be sent."""


@dataclass(frozen=True)
class Kind:
    """How the engine sends one kind: its message builder, and the setting that caps its rounds of tries
    (none: retried until its deadline, as an alert's deliveries are)."""

    build: BuildMessage
    max_rounds_setting: str | None = None

    def max_rounds(self, config: Mapping) -> int | None:
        """The most rounds of tries a record of this kind gets (retry.after_failure), or None for no cap."""
        return config[self.max_rounds_setting] if self.max_rounds_setting else None


_KINDS: dict[DeliveryKind, Kind] = {}


def register_kind(kind: DeliveryKind, build: BuildMessage, *, max_rounds_setting: str | None = None) -> None:
    """Tell the engine how to build the message of a kind (again: the same one replaces it)."""
    if kind is DeliveryKind.ALERT:
        raise ValueError("an alert's delivery is built by delivery/messages.py")
    _KINDS[kind] = Kind(build, max_rounds_setting)


def kind_of(kind: DeliveryKind) -> Kind | None:
    """The registered kind, or None when nobody registered it (an alert's delivery, or a missing wing)."""
    return _KINDS.get(kind)
