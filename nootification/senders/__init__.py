"""The channels: one sender module each, registered by name when imported here."""

from nootification.senders import email, fcm, push, slack, teams, telegram, vendor, webhook, webpush
from nootification.senders.registry import (
    EXTENSION_NAME,
    build_senders,
    channels,
    channels_that,
    every_channel,
    get_sender,
    init_app,
    register,
    sender_class,
)
from nootification.senders.twilio import sms, voice

CHANNEL_MODULES = (email, fcm, push, slack, sms, teams, telegram, vendor, voice, webhook, webpush)

__all__ = [
    "CHANNEL_MODULES",
    "EXTENSION_NAME",
    "build_senders",
    "channels",
    "channels_that",
    "every_channel",
    "get_sender",
    "init_app",
    "register",
    "sender_class",
]
