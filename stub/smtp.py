"""An SMTP server that records each mail on channel "email", with the same failure injection as HTTP."""

import asyncio
import email
import email.policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from stub.state import StubState, store

# A mailbox the server does not know (notfound@ any domain), so tests can provoke its refusal.
UNKNOWN_MAILBOX = "notfound"


class SmtpRecorder:
    """aiosmtpd handler: records each mail on channel "email", with the same failure injection as HTTP.

    An injected failure refuses the recipient: 451 for what HTTP would answer 5xx, 408 or 429, 550 otherwise.
    The Message-ID is the dedup key, so a mail sent again by a retry counts as a duplicate.
    """

    def __init__(self, state: StubState) -> None:
        self.state = state

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept the recipient, or refuse it as an injected failure or an unknown mailbox would."""
        delay, fault = self.state.draw()
        await asyncio.sleep(delay)
        if fault is not None:
            if fault.status >= 500 or fault.status in {408, 429}:
                return f"451 4.3.0 Temporary failure, try again later (injected {fault.reason})"
            return f"550 5.7.1 Delivery refused (injected {fault.reason})"
        if address.partition("@")[0] == UNKNOWN_MAILBOX:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Record the mail: its plain-text part as the text, subject, sender and HTML part as the payload."""
        mail = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
        payload = {
            "from": envelope.mail_from,
            "subject": mail["Subject"],
            "message_id": mail["Message-ID"],
            "html": html.get_content().replace("\r\n", "\n") if html is not None else None,
        }
        # Mail travels with CRLF line ends; the record keeps the text as it was written.
        text = plain.get_content().replace("\r\n", "\n") if plain is not None else ""
        store(self.state, "email", ", ".join(envelope.rcpt_tos), text, payload, key=mail["Message-ID"])
        return "250 Message accepted for delivery"


def start_smtp_server(
    state: StubState, *, host: str = "127.0.0.1", port: int = 2525, **options: Any
) -> Controller:
    """Start an SMTP server in a thread recording into `state`; `options` go to aiosmtpd (TLS, AUTH)."""
    controller = Controller(SmtpRecorder(state), hostname=host, port=port, **options)
    controller.start()
    return controller
