"""nootification: a shop's theft alert onto the phones of the staff standing in that shop."""

from collections.abc import Mapping

from flask import Flask

from nootification import senders
from nootification.api import register_api
from nootification.cli import register_commands
from nootification.config import Config
from nootification.delivery import queue
from nootification.errors import register_error_handlers
from nootification.extensions import redis_queue, register_database
from nootification.monitoring.metrics import expected_series
from nootification.observability import register_observability
from nootification.observability.metrics import register_metrics
from nootification.security import register_security
from nootification.services.keys import refuse_weak_keys
from nootification.staff.kinds import register_kinds


def create_app(config: type | Mapping | None = None) -> Flask:
    """Build the application from a config class or mapping (default: `Config`, read from the environment)."""
    app = Flask(__name__)
    app.config.from_object(Config)
    if isinstance(config, Mapping):
        app.config.from_mapping(config)
    elif config is not None:
        app.config.from_object(config)

    refuse_weak_keys(app)
    register_observability(app)
    register_metrics(app, expected_series(app.config))
    register_database(app)
    redis_queue.init_app(app)
    queue.init_app(app)
    senders.init_app(app)
    register_kinds()
    register_security(app)
    register_api(app)
    register_error_handlers(app)
    register_commands(app)
    return app
