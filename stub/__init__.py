"""A stub of the message providers: records the notifications it receives and fails on demand.

One failure injection (GET/PUT /control, faults.py) and one record (GET/DELETE /messages, ?channel= to
filter, state.py) serve every provider, one module each: the push provider, Slack, Telegram, Twilio, Teams,
generic webhooks, an SMTP server, a Web Push service and FCM. Each provider path answers in that provider's
own shapes, for successes, refusals and injected failures. `POST /press/telegram` and `/press/slack` press a
chat button as those providers do: a callback to the service, with their secret token or signature;
`POST /press/twilio/voice` presses a key during a call, `POST /press/twilio/sms` sends the service an SMS.
Twilio posts each SMS's and call's status callbacks, signed, to the `StatusCallback` URL the message or call
was made with.

The Web Push service plays the browser too: `POST /webpush/subscriptions` subscribes as pushManager.subscribe
does, and `POST /webpush/send/<id>` checks VAPID (RFC 8292), decrypts the aes128gcm body (RFC 8291) with the
subscription's private key and records the plaintext on channel "webpush". FCM HTTP v1 takes access tokens
from the stub's own Google OAuth token endpoint (`POST /fcm/token`), granted to the service accounts whose
public keys were registered (`POST /fcm/service-accounts`, or STUB_FCM_SERVICE_ACCOUNTS_FILE at start-up).
`third_party.py` runs it.
"""

import os
import random
from dataclasses import replace

from flask import Flask

from stub import faults, fcm, push, slack, state, teams, telegram, twilio, webhook, webpush
from stub.http import Refused, answer_refusal
from stub.settings import FailureSettings

PROVIDERS = (push, slack, telegram, twilio, teams, webhook, webpush, fcm, faults, state)


def create_stub_app(settings: FailureSettings | None = None) -> Flask:
    """The stub provider app; settings default to FailureSettings.from_env(), the seed to STUB_SEED.

    STUB_WEBHOOK_SECRET, when set, is the Standard Webhooks secret that generic webhooks must be signed with.
    STUB_FCM_SERVICE_ACCOUNTS_FILE, when set, is a JSON list of the service accounts FCM trusts from the
    start, each as POST /fcm/service-accounts takes it. STUB_FCM_TOKEN_EXPIRES_IN is how many seconds an
    access token is good for (default 3599, as Google's). ValueError if any of them is wrong.
    """
    app = Flask(__name__)
    app.config["STUB_WEBHOOK_SECRET"] = os.environ.get("STUB_WEBHOOK_SECRET", "")
    app.config["STUB_FCM_TOKEN_EXPIRES_IN"] = fcm.token_expires_in()
    # A copy, so the fail_next/hang_next countdown never touches the caller's object.
    initial = replace(settings) if settings is not None else FailureSettings.from_env()
    seed = os.environ.get("STUB_SEED")
    app.extensions["stub"] = state.StubState(initial, random.Random(int(seed) if seed else None))
    app.extensions["webpush"] = webpush.Subscriptions()
    accounts = fcm.TrustedAccounts()
    accounts_file = os.environ.get("STUB_FCM_SERVICE_ACCOUNTS_FILE")
    for account in fcm.load_service_accounts(accounts_file) if accounts_file else []:
        accounts.register(account)
    app.extensions["fcm"] = accounts
    for provider in PROVIDERS:
        app.register_blueprint(provider.bp)
    app.register_error_handler(Refused, answer_refusal)
    return app
