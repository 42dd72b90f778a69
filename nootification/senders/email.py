"""The email channel: SMTP through a relay, a text part and an HTML part."""

import html
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from marshmallow import Schema, fields

from nootification.i18n import translate
from nootification.senders.base import (
    ACT_WORDS,
    WATCH_WORD,
    Message,
    MessageSender,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from nootification.senders.registry import register
from nootification.senders.text import links

SECURITY_MODES = ("none", "starttls", "ssl")


class EmailConfigSchema(Schema):
    """An email contact point: one mailbox."""

    address = fields.Email(required=True)


def html_part(message: Message) -> str:
    """The body as escaped HTML paragraphs, then links to the video and to the staff page."""
    blocks = (block.strip() for block in message.body.split("\n\n"))
    paragraphs = "".join(
        "<p>" + html.escape(block).replace("\n", "<br>") + "</p>" for block in blocks if block
    )
    watch, act = (html.escape(translate(message.locale, text)) for text in (WATCH_WORD, ACT_WORDS))
    link = f'<p><a href="{html.escape(message.url, quote=True)}">{watch}</a></p>'
    if message.action_url:
        action = html.escape(message.action_url, quote=True)
        link += f'<p><a href="{action}">{act}</a></p>'
    return f"<!DOCTYPE html><html><body>{paragraphs}{link}</body></html>"


def smtp_error(code: int, stage: str) -> SendError:
    """A relay's reply code as an error: 4xx is temporary, anything else (5xx) a refusal."""
    reason = f"SMTP {code} at {stage}"
    if 400 <= code < 500:
        return TransientSendError(reason)
    return PermanentSendError(reason)


@register
class EmailSender(MessageSender):
    """Sends through SMTP_HOST:SMTP_PORT, plain, with STARTTLS or over TLS, logging in when a user is set."""

    channel = "email"
    sends_follow_ups = True
    reads_as_text = True
    deduplicates = True
    # One header line stays under RFC 5322's 998 characters; the body is bounded for the inbox.
    max_subject = 250
    max_body = 50_000
    config_schema = EmailConfigSchema
    secret_names = ("SMTP_USERNAME", "SMTP_PASSWORD")

    def __init__(self, config: Mapping):
        super().__init__(config)
        self.host = config["SMTP_HOST"]
        self.port = config["SMTP_PORT"]
        self.security = config["SMTP_SECURITY"].lower()
        self.sender = config["SMTP_FROM"]
        self.timeout = config["SMTP_TIMEOUT"]
        self.ca_file = config["SMTP_CA_FILE"] or None

    def compose(self, message: Message) -> EmailMessage:
        """The mail: plain text with the link, an HTML alternative, and a Message-ID from the delivery id."""
        mail = EmailMessage()
        # A header may not hold a line break: the email package refuses one rather than fold it.
        mail["Subject"] = " ".join(message.subject.split())
        mail["From"] = self.sender
        mail["To"] = self.address(message)
        mail["Date"] = formatdate(localtime=True)
        # The same id on every try, so a receiving system can drop a mail that a retry sent twice.
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "nootification"
        mail["Message-ID"] = f"<{message.delivery_id}@{domain}>"
        mail.set_content(
            f"{message.body.strip()}\n\n{links(message.url, message.action_url, message.locale)}\n"
        )
        mail.add_alternative(html_part(message), subtype="html")
        return mail

    def credentials(self) -> tuple[str, str] | None:
        """SMTP_USERNAME and SMTP_PASSWORD, or None to send without logging in."""
        username = self.secret("SMTP_USERNAME")
        if not username:
            return None
        return username, self.required_secret("SMTP_PASSWORD")

    def connect(self) -> smtplib.SMTP:
        """A client connected to the relay, over TLS from the first byte when SMTP_SECURITY is ssl."""
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.tls_context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the relay against SMTP_CA_FILE, or the system's CAs when it is empty."""
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except OSError as error:
            raise PermanentSendError(f"cannot read SMTP_CA_FILE: {error.strerror}") from None

    def send(self, message: Message) -> None:
        """Hand the mail to the relay once; reply codes, not texts, go into errors (they quote addresses)."""
        if self.security not in SECURITY_MODES:
            raise PermanentSendError(f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}")
        mail = self.compose(message)
        credentials = self.credentials()
        stage = "connect"
        try:
            with self.connect() as smtp:
                if self.security == "starttls":
                    stage = "STARTTLS"
                    smtp.starttls(context=self.tls_context())
                if credentials is not None:
                    stage = "login"
                    smtp.login(*credentials)
                stage = "send"
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            code, _ = next(iter(error.recipients.values()))
            raise smtp_error(code, "RCPT") from None
        except smtplib.SMTPResponseException as error:
            raise smtp_error(error.smtp_code, stage) from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentSendError(f"the relay does not offer what {stage} needs") from None
        except ssl.SSLCertVerificationError as error:
            raise PermanentSendError(f"TLS certificate refused at {stage}: {error.verify_message}") from None
        except (smtplib.SMTPException, OSError) as error:
            # smtplib reports a read that timed out as SMTPServerDisconnected raised from the TimeoutError.
            if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
                raise TransientSendError(f"timeout at {stage}") from None
            raise TransientSendError(f"connection error at {stage}: {type(error).__name__}") from None
