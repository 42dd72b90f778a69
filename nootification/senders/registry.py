"""The channel registry: each sender class under its channel name, and each application's sender instances."""

from collections.abc import Mapping

from flask import Flask, current_app

from nootification.senders.base import MessageSender

_SENDER_CLASSES: dict[str, type[MessageSender]] = {}
EXTENSION_NAME = "nootification.senders"


def register(sender_class: type[MessageSender]) -> type[MessageSender]:
    """Class decorator: register a sender under its `channel`; a second one for a channel is refused."""
    channel = sender_class.channel
    if channel in _SENDER_CLASSES:
        raise ValueError(f"a sender is already registered for channel {channel!r}")
    _SENDER_CLASSES[channel] = sender_class
    return sender_class


def channels() -> list[str]:
    """The names of every channel staff are reached on (not the camera vendor's)."""
    return sorted(name for name, cls in _SENDER_CLASSES.items() if cls.reaches_staff)


def every_channel() -> list[str]:
    """The names of every registered channel, the camera vendor's included."""
    return sorted(_SENDER_CLASSES)


def channels_that(capability: str) -> list[str]:
    """The channels whose sender class has a capability (`edits_messages`, `sends_follow_ups`, ...)."""
    return sorted(name for name, cls in _SENDER_CLASSES.items() if getattr(cls, capability))


def sender_class(channel: str) -> type[MessageSender]:
    """The sender class registered for a channel; KeyError when there is none."""
    return _SENDER_CLASSES[channel]


def build_senders(config: Mapping) -> dict[str, MessageSender]:
    """One sender instance per channel, configured from the application's config."""
    return {channel: sender_class(config) for channel, sender_class in _SENDER_CLASSES.items()}


def init_app(app: Flask) -> None:
    """Create the application's senders once, so their HTTP sessions are reused across jobs."""
    app.extensions[EXTENSION_NAME] = build_senders(app.config)


def get_sender(channel: str) -> MessageSender:
    """The current application's sender for a channel."""
    return current_app.extensions[EXTENSION_NAME][channel]
