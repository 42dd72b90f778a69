"""The email sender against the stub's real aiosmtpd server on a free loopback port: plain, STARTTLS, TLS."""

import logging
import ssl
import traceback

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from marshmallow import ValidationError

from nootification.senders.base import PermanentSendError, SendError, TransientSendError
from nootification.senders.email import EmailConfigSchema, EmailSender
from tests.helpers.config import free_port, make_config
from tests.helpers.factories import fail_next, make_message
from tests.helpers.stub import SmtpStub
from third_party import UNKNOWN_MAILBOX

TO = "manager@shop.example.com"
USERNAME = "relay-user"
PASSWORD = "relay-password-secret"


@pytest.fixture
def server_tls(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def check_password(server, session, envelope, mechanism: str, auth_data: LoginPassword) -> AuthResult:
    """aiosmtpd authenticator: USERNAME with PASSWORD, nobody else."""
    valid = auth_data.login.decode() == USERNAME and auth_data.password.decode() == PASSWORD
    # handled=False: aiosmtpd then answers 535 itself; with True it would answer nothing.
    return AuthResult(success=valid, handled=False)


def email_sender(port: int, **config) -> EmailSender:
    settings = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "Nootification <alerts@nootification.example.com>",
        # Long enough for a loaded machine; the test of a timeout sets its own.
        "SMTP_TIMEOUT": 5.0,
        **config,
    }
    return EmailSender(make_config(**settings))


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch) -> None:
    for name in ("SMTP_USERNAME", "SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


@pytest.fixture
def credentials(monkeypatch) -> None:
    monkeypatch.setenv("SMTP_USERNAME", USERNAME)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)


def test_sends_a_text_and_html_mail_over_plain_smtp(smtp_server: SmtpStub):
    message = make_message(address=TO, body="Theft <spotted> & filmed.\n\nCheck aisle 3.")

    email_sender(smtp_server.port).send(message)

    [mail] = smtp_server.messages(channel="email")["messages"]
    assert mail["address"] == TO
    assert mail["text"] == f"{message.body}\n\n{message.url}\n"
    payload = mail["payload"]
    assert payload["subject"] == message.subject
    assert payload["from"] == "alerts@nootification.example.com"
    assert payload["message_id"] == f"<{message.delivery_id}@nootification.example.com>"
    assert "<p>Theft &lt;spotted&gt; &amp; filmed.</p><p>Check aisle 3.</p>" in payload["html"]
    assert f'<a href="{message.url}">Watch the video</a>' in payload["html"]


def test_a_multiline_subject_is_one_header_line(smtp_server: SmtpStub):
    email_sender(smtp_server.port).send(make_message(address=TO, subject="Theft\nat the shop"))

    [mail] = smtp_server.messages(channel="email")["messages"]
    assert mail["payload"]["subject"] == "Theft at the shop"


def test_a_resent_mail_has_the_same_message_id(smtp_server: SmtpStub):
    message = make_message(address=TO)
    sender = email_sender(smtp_server.port)

    sender.send(message)
    sender.send(message)

    listed = smtp_server.messages(channel="email")
    assert (listed["count"], listed["duplicates"]) == (1, 1)


def test_starttls_with_login(start_smtp_stub, server_tls, certificate, credentials):
    server = start_smtp_stub(
        tls_context=server_tls, require_starttls=True, authenticator=check_password, auth_required=True
    )

    email_sender(server.port, SMTP_SECURITY="starttls", SMTP_CA_FILE=str(certificate[0])).send(
        make_message(address=TO)
    )

    assert server.messages(channel="email")["count"] == 1


def test_implicit_tls(start_smtp_stub, server_tls, certificate):
    server = start_smtp_stub(ssl_context=server_tls)

    email_sender(server.port, SMTP_SECURITY="ssl", SMTP_CA_FILE=str(certificate[0])).send(
        make_message(address=TO)
    )

    assert server.messages(channel="email")["count"] == 1


@pytest.mark.parametrize(
    ("control", "address", "error", "reason"),
    [
        (fail_next(500), TO, TransientSendError, "SMTP 451 at RCPT"),
        (fail_next(429), TO, TransientSendError, "SMTP 451 at RCPT"),
        (fail_next(400), TO, PermanentSendError, "SMTP 550 at RCPT"),
        ({}, f"{UNKNOWN_MAILBOX}@shop.example.com", PermanentSendError, "SMTP 550 at RCPT"),
        ({"hang_next": 1, "hang_seconds": 1.0}, TO, TransientSendError, "timeout at send"),
    ],
    ids=["transient", "rate-limited", "refused", "unknown-mailbox", "timeout"],
)
def test_failures_are_transient_or_permanent(smtp_server, control, address, error, reason):
    if control:
        smtp_server.control(**control)

    with pytest.raises(SendError) as raised:
        timeout = 0.5 if "hang_next" in control else 5.0  # the server hangs 1 s before answering
        email_sender(smtp_server.port, SMTP_TIMEOUT=timeout).send(make_message(address=address))

    assert type(raised.value) is error
    assert str(raised.value) == reason
    assert smtp_server.messages(channel="email")["count"] == 0


def test_nobody_listening_is_transient():
    with pytest.raises(TransientSendError, match="connection error at connect: ConnectionRefusedError"):
        email_sender(free_port()).send(make_message(address=TO))


def test_a_wrong_password_is_permanent_and_never_quoted(
    start_smtp_stub, server_tls, certificate, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG, logger="nootification")
    server = start_smtp_stub(tls_context=server_tls, authenticator=check_password, auth_required=True)
    monkeypatch.setenv("SMTP_USERNAME", USERNAME)
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-password-secret")
    sender = email_sender(server.port, SMTP_SECURITY="starttls", SMTP_CA_FILE=str(certificate[0]))

    with pytest.raises(PermanentSendError, match="SMTP 535 at login") as raised:
        sender.send(make_message(address=TO))

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("nootification"))
    assert "wrong-password-secret" not in ours + "".join(traceback.format_exception(raised.value))
    assert TO not in ours + str(raised.value)


def test_login_on_a_relay_without_auth_is_permanent(smtp_server, credentials):
    with pytest.raises(PermanentSendError, match="does not offer what login needs"):
        email_sender(smtp_server.port).send(make_message(address=TO))


def test_a_username_without_password_is_permanent(smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_USERNAME", USERNAME)

    with pytest.raises(PermanentSendError, match="SMTP_PASSWORD is not set"):
        email_sender(smtp_server.port).send(make_message(address=TO))

    assert smtp_server.messages()["raw_receipts"] == 0


def test_an_untrusted_certificate_is_permanent(start_smtp_stub, server_tls):
    server = start_smtp_stub(ssl_context=server_tls)

    with pytest.raises(PermanentSendError, match="TLS certificate refused at connect"):
        email_sender(server.port, SMTP_SECURITY="ssl").send(make_message(address=TO))


def test_starttls_on_a_relay_without_it_is_permanent(smtp_server):
    with pytest.raises(PermanentSendError, match="does not offer what STARTTLS needs"):
        email_sender(smtp_server.port, SMTP_SECURITY="starttls").send(make_message(address=TO))


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"SMTP_SECURITY": "tls1.3"}, "SMTP_SECURITY must be one of"),
        ({"SMTP_CA_FILE": "/nonexistent.pem"}, "SMTP_CA_FILE"),
    ],
)
def test_bad_settings_are_permanent(smtp_server, config, reason):
    with pytest.raises(PermanentSendError, match=reason):
        email_sender(smtp_server.port, **{"SMTP_SECURITY": "ssl", **config}).send(make_message(address=TO))


def test_no_address_is_permanent(smtp_server):
    with pytest.raises(PermanentSendError, match="no address"):
        email_sender(smtp_server.port).send(make_message(address=None))


def test_config_schema_accepts_a_mailbox():
    assert EmailConfigSchema().load({"address": TO}) == {"address": TO}


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ({"address": "manager"}, "address"),
        ({"address": "manager@"}, "address"),
        ({"address": "Manager <manager@shop.example.com>"}, "address"),
        ({}, "address"),
        ({"address": TO, "cc": "boss@shop.example.com"}, "cc"),
    ],
)
def test_config_schema_refuses_what_is_not_a_mailbox(contact, field):
    with pytest.raises(ValidationError) as raised:
        EmailConfigSchema().load(contact)

    assert list(raised.value.messages) == [field]
