"""Assertions several test modules share."""

import pytest

from nootification.senders.base import SendError


def assert_refused_and_unsent(sender, message, error: type[SendError], reason: str, provider, channel: str):
    """`sender.send(message)` raises exactly `error` naming `reason`, and the provider recorded nothing."""
    with pytest.raises(SendError) as raised:
        sender.send(message)
    assert type(raised.value) is error
    assert reason in str(raised.value)
    assert provider.messages(channel=channel)["count"] == 0
