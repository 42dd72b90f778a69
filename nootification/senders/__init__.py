"""The channels: one sender module each, registered by name when imported here."""

from nootification.senders import email, push, slack, sms, teams, telegram, webhook
from nootification.senders.registry import (
    EXTENSION_NAME,
    build_senders,
    channels,
    get_sender,
    init_app,
    register,
    sender_class,
)

CHANNEL_MODULES = (email, push, slack, sms, teams, telegram, webhook)

__all__ = [
    "CHANNEL_MODULES",
    "EXTENSION_NAME",
    "build_senders",
    "channels",
    "get_sender",
    "init_app",
    "register",
    "sender_class",
]
