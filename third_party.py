"""The stub message providers' entry point: `python third_party.py --port ...` runs them (see `--help`).

The providers live in the stub/ package, one module per provider; this module parses the arguments, starts
the HTTP app and the SMTP server, and hands on the names the tests and the bench import.
"""

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from werkzeug.serving import run_simple

from stub import create_stub_app
from stub.fcm import (
    INVALID_FCM_TOKEN,
    MISMATCHED_FCM_TOKEN,
    SHORT_LIVED_GRANT,
    UNREGISTERED_FCM_TOKEN,
    make_fcm_service_account,
    write_fcm_account_files,
)
from stub.settings import FailureSettings, InvalidSettings
from stub.slack import UNKNOWN_SLACK_CHANNEL, UNKNOWN_WEBHOOK_ID
from stub.smtp import UNKNOWN_MAILBOX, start_smtp_server
from stub.telegram import TELEGRAM_TOKEN, UNKNOWN_TELEGRAM_CHAT
from stub.twilio import INVALID_TWILIO_NUMBER

__all__ = [
    "INVALID_FCM_TOKEN",
    "INVALID_TWILIO_NUMBER",
    "MISMATCHED_FCM_TOKEN",
    "SHORT_LIVED_GRANT",
    "TELEGRAM_TOKEN",
    "UNKNOWN_MAILBOX",
    "UNKNOWN_SLACK_CHANNEL",
    "UNKNOWN_TELEGRAM_CHAT",
    "UNKNOWN_WEBHOOK_ID",
    "UNREGISTERED_FCM_TOKEN",
    "FailureSettings",
    "InvalidSettings",
    "create_stub_app",
    "main",
    "make_fcm_service_account",
    "start_smtp_server",
]


def _make_fcm_account(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    service_account_path, accounts_path = map(Path, args.make_fcm_account)
    token_uri = args.token_uri or f"http://127.0.0.1:{args.port}/fcm/token"
    try:
        written = write_fcm_account_files(service_account_path, accounts_path, token_uri)
    except FileExistsError as exc:
        parser.error(f"{exc}: remove it, or name two new files")
    if written:
        print(f"Wrote {service_account_path} (the sender's secret key file) and {accounts_path}.")
    else:
        print(f"Kept the existing {service_account_path} and {accounts_path}.")
    print(f"Start the stub with STUB_FCM_SERVICE_ACCOUNTS_FILE={accounts_path} to trust the account.")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the stub provider with werkzeug's threaded server, or write an FCM service account and exit."""
    parser = argparse.ArgumentParser(
        description="Run the stub message providers: it records POST /webhook/notifications/, the "
        "Slack, Telegram, Twilio, Teams, generic webhook, Web Push (/webpush/...) and FCM (/fcm/...) paths "
        "and mail sent to its SMTP server (read and clear them with GET/DELETE /messages) and injects "
        "failures on demand (GET/PUT /control, POST /control/reset).",
        epilog="Initial failure settings come from STUB_ERROR_RATE, STUB_RATE_LIMIT_RATE, "
        "STUB_RETRY_AFTER, STUB_LATENCY, STUB_HANG_RATE and STUB_HANG_SECONDS; STUB_SEED (an integer) "
        "makes the random failures reproducible. STUB_WEBHOOK_SECRET makes generic webhooks check Standard "
        "Webhooks signatures. STUB_FCM_SERVICE_ACCOUNTS_FILE (a JSON list, as --make-fcm-account writes it) "
        "names the service accounts FCM trusts; STUB_FCM_TOKEN_EXPIRES_IN (seconds, default 3599) is how "
        "long their access tokens are good for.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--smtp-port", type=int, default=2525, help="port of the SMTP server (default: %(default)s)"
    )
    parser.add_argument(
        "--make-fcm-account",
        nargs=2,
        metavar=("SERVICE_ACCOUNT_JSON", "PUBLIC_ACCOUNTS_JSON"),
        help="write a new FCM service account instead of running: its key file, as a Google console gives "
        "it, for the sender (mode 0600), and the list of public keys for STUB_FCM_SERVICE_ACCOUNTS_FILE; "
        "when both files exist they are kept as they are",
    )
    parser.add_argument(
        "--token-uri",
        help="with --make-fcm-account: the token_uri written into the key file, where the sender gets its "
        "access tokens (default: http://127.0.0.1:PORT/fcm/token)",
    )
    args = parser.parse_args(argv)
    if args.token_uri and not args.make_fcm_account:
        parser.error("--token-uri goes with --make-fcm-account")
    if args.make_fcm_account:
        _make_fcm_account(parser, args)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = create_stub_app()
    except ValueError as exc:
        parser.error(f"bad STUB_* environment: {exc}")
    smtp = start_smtp_server(app.extensions["stub"], host=args.host, port=args.smtp_port)
    try:
        run_simple(args.host, args.port, app, threaded=True)
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
