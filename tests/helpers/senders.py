"""A fixed message and the settings a sender is built with, for the push sender against the stub."""

from nootification.senders.base import Message


def sample_message() -> Message:
    """One message about alert `a-1`, with fixed ids the stub's record can be checked against."""
    return Message(
        delivery_id="d-1",
        user_uuid="u-1",
        address=None,
        alert_uuid="a-1",
        url="https://media.example.com/a.mp4",
        location="fr-auchan-larochelle",
        label="theft",
        severity="critical",
        time_spotted=1742470260.083,
    )


def sender_config(stub_url: str, **overrides) -> dict:
    """Settings for a sender against the stub, with short timeouts and three attempts; overrides on top."""
    config = {
        "THIRD_PARTY_URL": stub_url,
        "HTTP_CONNECT_TIMEOUT": 1.0,
        "HTTP_READ_TIMEOUT": 1.0,
        "SEND_MAX_ATTEMPTS": 3,
        "SEND_RETRY_WAIT": 3.0,
    }
    config.update(overrides)
    return config
