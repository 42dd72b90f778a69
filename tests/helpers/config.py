"""Test settings and loopback ports: the app's configuration as tests build it."""

import socket

from flask import Flask

from nootification import create_app
from nootification.config import TestConfig


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_config(**overrides) -> dict:
    """The test settings as a mapping, with per-test values on top."""
    config = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    config.update(overrides)
    return config


def limited_app(app: Flask, **settings) -> Flask:
    """A second app on the same database and Redis with rate limits switched on, and these settings."""
    config = make_config(
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        RATELIMIT_ENABLED=True,
        **settings,
    )
    return create_app(config)
