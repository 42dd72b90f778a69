"""The quick start's API server: waitress, which reads each request whole before one of its threads runs it.

A client that sends its body a byte at a time holds a socket in waitress's I/O loop, not a thread, so it holds
up no other request; gunicorn's threads read each body themselves, which is why compose puts nginx in front of
gunicorn instead.
"""

import logging
import signal

from flask import Flask
from waitress.server import create_server

log = logging.getLogger(__name__)

CONNECTION_LIMIT = 1000  # open sockets at most, slow ones included; waitress's default is 100


def _stop(_signum: int, _frame) -> None:
    # waitress's loop ends on SystemExit: it stops reading sockets and waits (up to 5 s) for the requests its
    # threads are running to end, so what they store is stored; their answers may not go out, and a client
    # sends again (an alert is idempotent by its alert_uuid). Then `serve` returns and the process exits 0.
    raise SystemExit(0)


def serve(app: Flask, *, host: str, port: int, threads: int) -> None:
    """Serve the application until SIGTERM or SIGINT; the requests in flight run to their end first."""
    server = create_server(
        app, host=host, port=port, threads=threads, connection_limit=CONNECTION_LIMIT, ident="nootification"
    )
    if app.config["ALLOW_UNAUTHENTICATED_ALERTS"]:
        log.warning("ALLOW_UNAUTHENTICATED_ALERTS is on: unsigned alerts without a token are accepted")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("API on http://%s:%d (waitress, %d threads)", host, port, threads)
    server.run()
