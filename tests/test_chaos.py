"""The chaos run's bookkeeping without a stack: contact points, attribution, repeat policy, fault windows."""

import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from bench import chaos, stack
from bench import chaos_evidence as evidence
from bench.chaos import Member, Run
from bench.chaos_evidence import Fault, Receipt, Sent, Tally
from nootification.extensions import db
from nootification.models import Alert, Delivery, DeliveryAttempt, Location, User
from nootification.senders import sender_class

STUB = "http://127.0.0.1:5000"
ALERT = "0b9d1f7e-3c1a-4d59-9a55-9f1f0d6c2a11"
OTHER = "5e2c6d3a-8f4b-4a7e-b1c2-0d9e8f7a6b5c"
T0 = datetime(2026, 3, 20, 11, 31, tzinfo=UTC)


def test_every_channel_but_push_is_handed_out_round_robin():
    points = [chaos.contact_point(number, STUB) for number in range(len(chaos.CONTACTS))]

    channels = {"sms", "telegram", "slack", "teams", "webhook", "email", "voice"}
    assert {channel for channel, _ in points} == channels
    assert [channel for channel, _ in points] == [channel for channel, _ in chaos.CONTACTS]
    assert chaos.contact_point(len(chaos.CONTACTS), STUB)[0] == chaos.CONTACTS[0][0]


def test_each_member_has_an_address_of_their_own():
    points = [chaos.contact_point(number, STUB) for number in range(500)]

    recorded = {(channel, chaos.recorded_address(address)) for channel, address in points}

    assert len(recorded) == len(points)


@pytest.mark.parametrize("number", range(len(chaos.CONTACTS)))
def test_the_addresses_are_valid_for_their_channel(number):
    channel, address = chaos.contact_point(number + 10, STUB)
    # The API checks a loopback http URL as its https twin when private targets are allowed, as in the stack.
    checked = address.replace("http://", "https://")

    assert sender_class(channel).config_schema().validate({"address": checked}) == {}


def test_the_stub_records_a_webhook_address_by_its_last_two_segments():
    assert chaos.recorded_address(f"{STUB}/teams/webhook/chaos-7") == "webhook/chaos-7"
    assert chaos.recorded_address(f"{STUB}/webhook/generic/chaos-7/") == "generic/chaos-7"
    assert chaos.recorded_address("+15550000007") == "+15550000007"


def test_an_alert_owes_push_and_the_other_channel_to_the_members_who_want_it():
    staff = [Member("standard", "STANDARD", "sms", "+1"), Member("critical", "CRITICAL", "teams", "x")]

    assert chaos.expected_of(ALERT, "standard", staff) == {
        (ALERT, "standard", "push"),
        (ALERT, "standard", "sms"),
    }
    assert chaos.expected_of(ALERT, "critical", staff) == {
        (ALERT, "standard", "push"),
        (ALERT, "standard", "sms"),
        (ALERT, "critical", "push"),
        (ALERT, "critical", "teams"),
    }


def test_a_message_names_its_alert_by_field_or_by_the_video_link():
    link = evidence.VIDEO_URL.format(alert_uuid=ALERT)

    keyed = {"alert_uuid": ALERT, "url": evidence.VIDEO_URL.format(alert_uuid=OTHER)}
    assert evidence.message_alert(keyed) == ALERT
    assert evidence.message_alert({"channel": "sms", "alert_uuid": None, "text": f"Theft\n{link}"}) == ALERT
    teams = {"text": "Theft at A", "payload": {"attachments": [{"content": {"actions": [{"url": link}]}}]}}
    assert evidence.message_alert({"channel": "teams", "alert_uuid": None, **teams}) == ALERT
    assert evidence.message_alert({"channel": "sms", "text": "no link", "payload": {}}) is None


def test_a_push_message_names_its_user_and_any_other_is_its_addresss_holders():
    holders = {("sms", "+15550000001"): "u1", ("teams", "webhook/chaos-2"): "u2"}
    link = evidence.VIDEO_URL.format(alert_uuid=ALERT)

    push = {"target_user_uuid": "u9", "alert_uuid": ALERT, "receipts": 3}
    sms = {"channel": "sms", "address": "+15550000001", "text": f"Repeat: x\n{link}", "receipts": 1}
    stranger = {"channel": "teams", "address": "webhook/elsewhere", "text": link, "receipts": 1}

    assert evidence.attribute(push, holders) == Receipt((ALERT, "u9", "push"), "", 3)
    assert evidence.attribute(sms, holders) == Receipt((ALERT, "u1", "sms"), f"Repeat: x\n{link}", 1)
    assert evidence.attribute(stranger, holders).triple == (ALERT, "?webhook/elsewhere", "teams")
    assert evidence.attribute({**sms, "text": "no link"}, holders).triple == ("?", "u1", "sms")


def test_a_call_is_its_deliverys_alert_and_says_what_it_says_first():
    holders = {("voice", "+15560000001"): "u1"}
    delivery = "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="http://api/webhooks/twilio/voice'
        f'?delivery={delivery}"><Say>Repeat: Theft at A.</Say></Gather><Say>Goodbye.</Say></Response>'
    )
    call = {"channel": "voice", "address": "+15560000001", "text": twiml, "receipts": 1}

    assert evidence.attribute(call, holders, {delivery: ALERT}) == Receipt(
        (ALERT, "u1", "voice"), "Repeat: Theft at A.", 1
    )
    assert evidence.attribute(call, holders, {}).triple == ("?", "u1", "voice")


@pytest.mark.parametrize(
    ("channel", "texts", "broken"),
    [
        ("push", [""], False),
        ("push", ["", ""], True),
        ("webhook", ["x", "x"], True),
        ("email", ["Repeat: x", "x"], True),
        ("sms", ["Theft", "Repeat: Theft"], False),
        ("telegram", ["Repeat: Theft"], False),
        ("slack", ["Repeat: Theft", "Theft", "Repeat: Theft"], False),
        ("teams", ["Theft", "Theft"], True),
        ("sms", ["Theft", "Theft", "Repeat: Theft"], True),
        ("slack", ["Theft\nRepeat: Theft", "Theft"], True),
    ],
)
def test_repeats_follow_the_channels_policy(channel, texts, broken):
    assert evidence.breaks_policy(channel, texts) is broken


def test_classify_counts_each_channels_fate():
    expected = {(ALERT, "u1", "push"), (ALERT, "u1", "sms"), (ALERT, "u2", "push"), (ALERT, "u2", "teams")}
    receipts = [
        Receipt((ALERT, "u1", "push"), "", 2),  # re-sent once with its key, absorbed
        Receipt((ALERT, "u1", "sms"), "Theft", 1),
        Receipt((ALERT, "u1", "sms"), "Repeat: Theft", 1),
        Receipt((ALERT, "u2", "teams"), "Theft", 1),
        Receipt((ALERT, "u2", "teams"), "Theft", 1),
        Receipt((OTHER, "u2", "push"), "", 1),
    ]

    tallies = evidence.classify(expected, receipts)

    assert tallies == {
        "push": Tally(expected=2, received=1, lost=1, extra=1, raw_duplicates=1),
        "sms": Tally(expected=1, received=1, repeats=1),
        "teams": Tally(expected=1, received=1, repeats=1, breaches=1),
    }
    assert evidence.total(tallies.values()) == Tally(
        expected=4, received=3, lost=1, extra=1, repeats=2, raw_duplicates=1, breaches=1
    )
    assert tallies["push"].duplicates == 1 and tallies["sms"].duplicates == 1


def test_an_alert_belongs_to_the_fault_window_it_was_posted_in():
    posted = {"before": 9.0, "first": 10.0, "during": 12.5, "second": 20.0, "late": 99.0}

    windows = evidence.fault_windows([10.0, 20.0], posted)

    assert windows == [{"first", "during"}, {"second", "late"}]


def test_a_windows_drain_runs_from_its_fault_to_its_last_sending():
    sent = [Sent(ALERT, "push", 10.0, 14.0), Sent(ALERT, "sms", 10.0, 17.5), Sent(OTHER, "push", 10.0, 30.0)]

    assert evidence.drain_seconds(12.0, {ALERT}, sent) == 5.5
    assert evidence.drain_seconds(12.0, {"never sent"}, sent) is None


@pytest.fixture
def ledger():
    """An in-memory database with the service's tables, one alert received at T0 and one user."""
    engine = sa.create_engine("sqlite://")
    db.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(Location.__table__), {"id": 1, "name": "shop", "display_name": "Shop"})
        connection.execute(sa.insert(User.__table__), {"id": 1, "user_uuid": "u1"})
        alert = {
            "id": 1,
            "alert_uuid": ALERT,
            "url": "u",
            "location_id": 1,
            "label": "theft",
            "severity": "critical",
        }
        connection.execute(sa.insert(Alert.__table__), {**alert, "time_spotted": T0, "received_at": T0})
    yield engine
    engine.dispose()


def add_delivery(engine, delivery_id, channel, status, sent_after=None, outcomes=()):
    sent_at = None if sent_after is None else T0 + timedelta(seconds=sent_after)
    row = {"id": delivery_id, "alert_id": 1, "user_id": 1, "channel": channel, "status": status}
    with engine.begin() as connection:
        connection.execute(sa.insert(Delivery.__table__), {**row, "sent_at": sent_at})
        for number, outcome in enumerate(outcomes, 1):
            attempt = {"delivery_id": delivery_id, "number": number, "outcome": outcome, "started_at": T0}
            connection.execute(sa.insert(DeliveryAttempt.__table__), attempt)


def test_the_database_says_what_was_sent_and_when(ledger):
    add_delivery(ledger, "d1", "push", "sent", 2.5, ["transient", "sent"])
    add_delivery(ledger, "d2", "sms", "scheduled", None, ["transient"])

    with ledger.connect() as connection:
        sent = evidence.sent_deliveries(connection)

    assert sent == [Sent(ALERT, "push", T0.timestamp(), T0.timestamp() + 2.5)]


def test_the_ledger_shows_deliveries_sent_by_two_attempts(ledger):
    add_delivery(ledger, "once", "push", "sent", 1, ["unknown", "sent"])
    add_delivery(ledger, "twice", "sms", "sent", 1, ["sent", "transient", "sent"])

    with ledger.connect() as connection:
        assert evidence.sent_twice(connection) == 1


def test_a_later_step_started_after_its_alerts_close_is_counted(ledger):
    add_delivery(ledger, "first step", "push", "sent", 1, ["sent"])
    add_delivery(ledger, "later step", "sms", "sent", 1, ["transient", "sent"])
    with ledger.begin() as connection:
        connection.execute(
            sa.update(Delivery.__table__).where(Delivery.id == "later step").values(ladder_step=1)
        )
    started = T0.timestamp()

    with ledger.connect() as connection:
        assert evidence.steps_started_after(connection, {ALERT: started - 1}) == 2
        assert evidence.steps_started_after(connection, {ALERT: started}) == 0
        assert evidence.steps_started_after(connection, {}) == 0


def test_each_call_delivery_is_mapped_to_its_alert(ledger):
    add_delivery(ledger, "call", "voice", "sent", 1, ["sent"])
    add_delivery(ledger, "text", "sms", "sent", 1, ["sent"])

    with ledger.connect() as connection:
        assert evidence.call_alerts(connection) == {"call": ALERT}


def test_a_fault_time_reads_to_the_tenth_of_a_second():
    at = datetime(2026, 3, 20, 11, 31, 7, 960000).timestamp()

    assert evidence.clock(at) == "11:31:07.9"


def test_the_fault_table_reports_each_windows_losses_and_duplicates():
    run = Run(
        expected={(ALERT, "u1", "push"), (ALERT, "u1", "sms"), (OTHER, "u1", "push"), (OTHER, "u1", "sms")},
        posted={ALERT: 10.5, OTHER: 20.5},
    )
    receipts = [
        Receipt((ALERT, "u1", "push"), "", 1),
        Receipt((ALERT, "u1", "sms"), "Theft", 1),
        Receipt((ALERT, "u1", "sms"), "Repeat: Theft", 1),
        Receipt((OTHER, "u1", "push"), "", 3),
    ]
    sent = [Sent(ALERT, "push", 10.5, 11.0), Sent(ALERT, "sms", 10.5, 13.0), Sent(OTHER, "push", 20.5, 21.0)]
    done = [Fault("restart redis", 10.0), Fault("restart the API", 20.0)]

    lines = evidence.fault_table(done, run.expected, run.posted, receipts, sent)
    header, first, second = (line.split() for line in lines)

    assert header[1:6] == ["expected", "lost", "breaches", "drain", "(s)"]
    assert first[1:] == ["2", "0", "0", "3.0", "sms", "1", "restart", "redis"]
    assert second[1:] == ["2", "1", "0", "1.0", "push", "2", "restart", "the", "API"]


def test_the_channel_table_puts_push_first_with_its_latency():
    tallies = {"email": Tally(expected=1, received=1), "push": Tally(expected=2, received=2)}
    sent = [Sent(ALERT, "push", 0.0, 1.0), Sent(OTHER, "push", 0.0, 3.0), Sent(ALERT, "email", 0.0, 2.0)]

    lines = evidence.channel_table(tallies, sent)

    assert [line.split()[0] for line in lines] == ["channel", "push", "email"]
    assert lines[1].endswith("3.00 / 3.00 / 3.00") and lines[2].endswith("2.00 / 2.00 / 2.00")


def test_latencies_are_summed_up_as_p50_p95_and_max():
    assert evidence.summary([float(n) for n in reversed(range(100))]) == "50.00 / 95.00 / 99.00"
    assert evidence.summary([]) == "-"


def test_a_table_aligns_numbers_right_and_its_first_and_last_columns_left():
    assert evidence.table([["channel", "lost", "fault"], ["sms", 12, "x"], ["push", 3, "restart"]]) == [
        "channel  lost  fault",
        "sms        12  x",
        "push        3  restart",
    ]


def test_the_provider_fault_mix_is_on_the_command_line():
    options = chaos.parse_args(["--error-rate", "0.3", "--hang-rate", "0.05", "--hang-seconds", "12"])

    assert (options.error_rate, options.rate_limit_rate, options.hang_rate) == (0.3, 0.05, 0.05)
    assert chaos.provider_faults(options) == "30% 500s, 5% 429s, 5% hangs of 12 s"
    defaults = chaos.parse_args([])
    assert (defaults.error_rate, defaults.rate_limit_rate, defaults.hang_rate, defaults.hang_seconds) == (
        0.2,
        0.05,
        0.05,
        3.0,
    )
    with pytest.raises(SystemExit):
        chaos.parse_args(["--error-rate", "1.5"])


def test_the_stacks_stub_records_mail_on_its_smtp_server(monkeypatch):
    smtp_port = stack.free_port()
    monkeypatch.setenv("STUB_SMTP_PORT", str(smtp_port))
    app = stack.stub_app()
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "n@example.com", "chaos-6@example.com", "Theft"
    mail["Message-ID"] = "<d1@example.com>"
    mail.set_content("Theft")
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as client:
            client.send_message(mail)
    finally:
        app.extensions["smtp"].stop()

    messages = app.test_client().get("/messages", query_string={"channel": "email"}).get_json()["messages"]
    assert [(m["address"], m["idempotency_key"]) for m in messages] == [
        ("chaos-6@example.com", "<d1@example.com>")
    ]
