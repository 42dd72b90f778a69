import random

import pytest

from e2e import (
    Comparison,
    Contact,
    PostedAlert,
    Receipt,
    Route,
    User,
    address_key,
    attribute,
    compare,
    contacts_of,
    expected_deliveries,
    format_report,
    latencies_ms,
    percentile,
    plan_alerts,
    plan_preferences,
    routed_channels,
    with_levels,
)

LA_ROCHELLE = "fr-auchan-larochelle"
NANTES = "fr-leclerc-nantes"

ALICE = User("alice", "STANDARD", frozenset({LA_ROCHELLE}))
BOB = User("bob", "CRITICAL", frozenset({LA_ROCHELLE, NANTES}))
CAROL = User("carol", "STANDARD", frozenset({NANTES}))
DAVE = User("dave", "STANDARD", frozenset())
USERS = [ALICE, BOB, CAROL, DAVE]

SMS = Contact("sms", "+33639980101")
SLACK = Contact("slack", "C0AUCHLR01")
TELEGRAM = Contact("telegram", "418230101")
EMAIL = Contact("email", "alice@example.com")
TEAMS = Contact("teams", "https://teams.example.com/webhook/anne")


def alert(
    alert_uuid: str,
    location: str,
    severity: str,
    delivery_count: int = 0,
    posted_at: float = 100.0,
    label: str | None = None,
) -> PostedAlert:
    label = label or ("theft" if severity == "critical" else "normal")
    url = f"https://media.example.com/{alert_uuid}.mp4"
    return PostedAlert(alert_uuid, location, label, severity, delivery_count, posted_at, url)


def push(alert_uuid: str, user_uuid: str, received_at: float = 100.0, receipts: int = 1) -> dict:
    """A push record as the stub keeps it: the provider's wire format, without a channel."""
    return {
        "alert_uuid": alert_uuid,
        "target_user_uuid": user_uuid,
        "received_at": received_at,
        "receipts": receipts,
    }


def record(
    channel: str,
    address: str,
    text: str = "",
    alert_uuid: str | None = None,
    received_at: float = 100.0,
    receipts: int = 1,
    payload: dict | None = None,
) -> dict:
    """A non-push record as the stub keeps it."""
    return {
        "channel": channel,
        "address": address,
        "text": text,
        "alert_uuid": alert_uuid,
        "payload": payload or {},
        "received_at": received_at,
        "receipts": receipts,
    }


def text_of(alert_uuid: str) -> str:
    """What an SMS or Telegram message says: the default template's text, then the sender's video URL."""
    return f"Theft at Auchan\nTheft spotted at 12:31 (critical).\nhttps://media.example.com/{alert_uuid}.mp4"


def receipt(alert_uuid: str, user_uuid: str, channel: str = "push", at: float = 100.0, n: int = 1) -> Receipt:
    return Receipt((alert_uuid, user_uuid, channel), at, n)


# Without contact points or routes every user has push only: the original push-only expectation.


def test_critical_alert_reaches_every_user_of_its_shop() -> None:
    assert expected_deliveries([alert("a1", LA_ROCHELLE, "critical")], USERS, []) == {
        ("a1", "alice", "push"),
        ("a1", "bob", "push"),
    }


def test_standard_alert_skips_critical_only_users() -> None:
    assert expected_deliveries([alert("a1", LA_ROCHELLE, "standard")], USERS, []) == {("a1", "alice", "push")}


def test_expected_deliveries_over_several_alerts_and_shops() -> None:
    alerts = [
        alert("a1", NANTES, "critical"),
        alert("a2", NANTES, "standard"),
        alert("a3", "fr-nowhere", "critical"),
    ]

    assert expected_deliveries(alerts, USERS, []) == {
        ("a1", "bob", "push"),
        ("a1", "carol", "push"),
        ("a2", "carol", "push"),
    }


def test_push_is_implied_unless_a_push_contact_point_is_stored() -> None:
    assert contacts_of(User("u", "CRITICAL", frozenset(), (SMS,))) == [Contact("push", None), SMS]
    stored = Contact("push", "device-1", "STANDARD", enabled=False)
    assert contacts_of(User("u", "CRITICAL", frozenset(), (stored, SMS))) == [stored, SMS]


@pytest.mark.parametrize(
    ("contacts", "user_level", "severity", "channels"),
    [
        pytest.param((SMS, SLACK), "STANDARD", "standard", {"push", "sms", "slack"}, id="standard-user-all"),
        pytest.param((SMS, SLACK), "CRITICAL", "standard", set(), id="critical-user-no-standard"),
        pytest.param((SMS, SLACK), "CRITICAL", "critical", {"push", "sms", "slack"}, id="critical-all"),
        pytest.param(
            (SMS, Contact("slack", "C0AUCHLR01", "STANDARD")),
            "CRITICAL",
            "standard",
            {"slack"},
            id="channel-level-standard-overrides-user",
        ),
        pytest.param(
            (Contact("sms", "+33639980101", "CRITICAL"), SLACK),
            "STANDARD",
            "standard",
            {"push", "slack"},
            id="channel-level-critical-overrides-user",
        ),
        pytest.param(
            (Contact("sms", "+33639980101", enabled=False), SLACK),
            "STANDARD",
            "critical",
            {"push", "slack"},
            id="disabled-contact-point",
        ),
        pytest.param(
            (Contact("push", "device-1", "STANDARD"), SMS),
            "CRITICAL",
            "standard",
            {"push"},
            id="stored-push-overrides-implied",
        ),
        pytest.param(
            (Contact("push", "device-1", enabled=False), SMS),
            "STANDARD",
            "standard",
            {"sms"},
            id="stored-push-disabled",
        ),
    ],
)
def test_contact_points_and_levels_choose_the_channels(
    contacts: tuple[Contact, ...], user_level: str, severity: str, channels: set[str]
) -> None:
    user = User("u", user_level, frozenset({LA_ROCHELLE}), contacts)

    expected = expected_deliveries([alert("a1", LA_ROCHELLE, severity)], [user], [])

    assert expected == {("a1", "u", channel) for channel in channels}


ROUTES = [
    Route("theft", frozenset({"push", "sms", "email"})),
    Route("*", frozenset({"push"})),
    Route("suspicious", frozenset({"push", "telegram"}), LA_ROCHELLE),
    Route("*", frozenset({"slack"}), NANTES),
    Route("theft", frozenset({"email"}), NANTES),
]


@pytest.mark.parametrize(
    ("routes", "location", "label", "channels"),
    [
        pytest.param([], LA_ROCHELLE, "theft", None, id="no-rule-any-channel"),
        pytest.param(ROUTES, "fr-other", "theft", {"push", "sms", "email"}, id="every-shop-this-label"),
        pytest.param(ROUTES, "fr-other", "normal", {"push"}, id="every-shop-any-label"),
        pytest.param(ROUTES, LA_ROCHELLE, "suspicious", {"push", "telegram"}, id="this-shop-this-label"),
        pytest.param(ROUTES, LA_ROCHELLE, "theft", {"push", "sms", "email"}, id="other-shop-rule-ignored"),
        pytest.param(ROUTES, NANTES, "normal", {"slack"}, id="this-shop-any-label-beats-every-shop"),
        pytest.param(ROUTES, NANTES, "theft", {"email"}, id="this-shop-this-label-beats-this-shop-any"),
        pytest.param(ROUTES[:1], NANTES, "normal", None, id="rules-that-do-not-match"),
        pytest.param([Route("*", frozenset())], NANTES, "theft", set(), id="a-rule-with-no-channel"),
    ],
)
def test_routes_precedence(routes: list[Route], location: str, label: str, channels: set[str] | None) -> None:
    assert routed_channels(routes, location, label) == (None if channels is None else frozenset(channels))


def test_expected_deliveries_follow_routes_per_alert() -> None:
    alice = User("alice", "STANDARD", frozenset({LA_ROCHELLE}), (SMS, EMAIL, TELEGRAM))
    alerts = [
        alert("a1", LA_ROCHELLE, "critical"),
        alert("a2", LA_ROCHELLE, "standard", label="suspicious"),
        alert("a3", LA_ROCHELLE, "standard", label="normal"),
    ]

    assert expected_deliveries(alerts, [alice], ROUTES) == {
        ("a1", "alice", "push"),
        ("a1", "alice", "sms"),
        ("a1", "alice", "email"),
        ("a2", "alice", "push"),
        ("a2", "alice", "telegram"),
        ("a3", "alice", "push"),
    }


def test_with_levels_changes_only_the_planned_users_and_keeps_their_contact_points() -> None:
    users = with_levels(
        [*USERS, User("erin", "CRITICAL", frozenset({LA_ROCHELLE}), (SMS,))], {"erin": "STANDARD"}
    )
    users = with_levels(users, {"alice": "CRITICAL", "bob": "STANDARD"})

    assert [u.level for u in users] == ["CRITICAL", "STANDARD", "STANDARD", "STANDARD", "STANDARD"]
    assert users[-1].contacts == (SMS,)
    assert expected_deliveries([alert("a1", LA_ROCHELLE, "standard")], users, []) == {
        ("a1", "bob", "push"),
        ("a1", "erin", "push"),
        ("a1", "erin", "sms"),
    }


ANNE = User("anne", "STANDARD", frozenset({LA_ROCHELLE}), (SMS, SLACK, TELEGRAM, EMAIL, TEAMS))
# Ben shares Anne's Slack channel and has his own phone.
BEN = User("ben", "CRITICAL", frozenset({LA_ROCHELLE}), (SLACK, Contact("sms", "+33639980102")))
RUN = [alert("a1", LA_ROCHELLE, "critical"), alert("a2", LA_ROCHELLE, "standard")]


@pytest.mark.parametrize(
    ("message", "delivery"),
    [
        pytest.param(push("a1", "anne"), ("a1", "anne", "push"), id="push-by-alert-and-target"),
        pytest.param(push("a1", "zed"), ("a1", "zed", "push"), id="push-to-anyone-named"),
        pytest.param(record("sms", "+33639980101", text_of("a2")), ("a2", "anne", "sms"), id="sms-by-url"),
        pytest.param(record("sms", "+33639980102", text_of("a1")), ("a1", "ben", "sms"), id="sms-other-user"),
        pytest.param(
            record("telegram", "418230101", text_of("a1")), ("a1", "anne", "telegram"), id="telegram-by-url"
        ),
        pytest.param(
            record("email", "alice@example.com", f"Body\n\n{RUN[0].url}\n"),
            ("a1", "anne", "email"),
            id="email-by-url",
        ),
        pytest.param(
            record("teams", "webhook/anne", "Theft at Auchan", payload={"actions": [{"url": RUN[1].url}]}),
            ("a2", "anne", "teams"),
            id="teams-by-link-in-card",
        ),
        pytest.param(
            record("slack", "C0AUCHLR01", "no link here", alert_uuid="a2"),
            ("a2", "anne", "slack"),
            id="slack-by-alert-uuid",
        ),
        pytest.param(
            record("sms", "+33600000000", text_of("a1")), ("a1", "?+33600000000", "sms"), id="unknown-address"
        ),
        pytest.param(
            record("telegram", "+33639980101", text_of("a1")),
            ("a1", "?+33639980101", "telegram"),
            id="address-of-another-channel",
        ),
        pytest.param(push("other-run", "anne"), None, id="push-of-another-run"),
        pytest.param(record("sms", "+33639980101", text_of("other-run")), None, id="url-of-another-run"),
        pytest.param(
            record("slack", "C0AUCHLR01", text_of("a1"), alert_uuid="other-run"),
            None,
            id="alert-uuid-wins-over-url",
        ),
    ],
)
def test_attribute_one_message(message: dict, delivery: tuple[str, str, str] | None) -> None:
    receipts = attribute([message], RUN, [ANNE, BEN], expected=set())

    assert [r.delivery for r in receipts] == ([] if delivery is None else [delivery])


@pytest.mark.parametrize(
    ("expected", "messages", "users"),
    [
        pytest.param(
            {("a1", "anne", "slack"), ("a1", "ben", "slack")}, 2, ["anne", "ben"], id="both-expected"
        ),
        pytest.param({("a1", "ben", "slack")}, 1, ["ben"], id="expected-one-first"),
        pytest.param({("a1", "ben", "slack")}, 2, ["ben", "anne"], id="one-too-many-is-extra"),
        pytest.param({("a1", "ben", "slack")}, 3, ["ben", "anne", "anne"], id="then-duplicates"),
    ],
)
def test_attribute_a_shared_address_gives_the_expected_users_their_messages_first(
    expected: set, messages: int, users: list[str]
) -> None:
    records = [record("slack", "C0AUCHLR01", alert_uuid="a1", received_at=100.0 + i) for i in range(messages)]

    receipts = attribute(records, RUN, [ANNE, BEN], expected)

    assert [r.delivery for r in receipts] == [("a1", user, "slack") for user in users]


def test_attribute_keeps_arrival_time_and_receipt_count() -> None:
    messages = [
        push("a1", "anne", 101.5, receipts=3),
        record("sms", "+33639980101", text_of("a1"), None, 100.5),
    ]

    assert attribute(messages, RUN, [ANNE], set()) == [
        receipt("a1", "anne", "sms", 100.5),
        receipt("a1", "anne", "push", 101.5, n=3),
    ]


def test_plan_preferences_is_deterministic_and_skips_users_without_shops() -> None:
    first = plan_preferences(USERS, random.Random(3))

    assert first == plan_preferences(list(reversed(USERS)), random.Random(3))
    assert set(first) == {"alice", "bob", "carol"}
    assert sorted(first.values()) == ["CRITICAL", "STANDARD", "STANDARD"]


@pytest.mark.parametrize("count", [2, 3, 20])
def test_plan_alerts_mixes_theft_and_non_theft(count: int) -> None:
    plans = plan_alerts([LA_ROCHELLE, NANTES], count, random.Random(1))

    labels = [p["label"] for p in plans]
    assert len(plans) == count
    assert "theft" in labels
    assert set(labels) - {"theft"}
    assert len({p["alert_uuid"] for p in plans}) == count
    assert all(p["location"] in (LA_ROCHELLE, NANTES) for p in plans)
    assert all(p["url"] == f"https://media.example.com/{p['alert_uuid']}.mp4" for p in plans)


def test_plan_alerts_replays_labels_and_shops_with_a_seed() -> None:
    def shape(seed: int) -> list[tuple[str, str]]:
        return [
            (p["label"], p["location"]) for p in plan_alerts([LA_ROCHELLE, NANTES], 12, random.Random(seed))
        ]

    assert shape(5) == shape(5)
    assert {location for _, location in shape(5)} == {LA_ROCHELLE, NANTES}


def test_compare_all_received_once_is_ok() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=3)]
    expected = {("a1", "alice", "push"), ("a1", "bob", "push"), ("a1", "alice", "sms")}
    receipts = [receipt("a1", "alice"), receipt("a1", "bob"), receipt("a1", "alice", "sms")]

    result = compare(alerts, expected, receipts)

    assert result == Comparison({"push": 2, "sms": 1}, {"push": 2, "sms": 1}, [], [], [], 0, [])
    assert result.ok


def test_compare_finds_missing_extra_and_duplicated_deliveries_per_channel() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=3)]
    expected = {("a1", "alice", "push"), ("a1", "bob", "push"), ("a1", "alice", "sms")}
    receipts = [
        receipt("a1", "alice"),
        receipt("a1", "alice"),
        receipt("a1", "carol"),
        receipt("a1", "alice", "email"),
    ]

    result = compare(alerts, expected, receipts)

    assert result.missing == [("a1", "alice", "sms"), ("a1", "bob", "push")]
    assert result.extra == [("a1", "alice", "email"), ("a1", "carol", "push")]
    assert result.duplicated == [("a1", "alice", "push")]
    assert (result.expected, result.received) == ({"push": 2, "sms": 1}, {"push": 3, "email": 1})
    assert not result.ok


def test_compare_fails_on_raw_duplicates_at_the_stub() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "standard", delivery_count=1)]

    result = compare(alerts, {("a1", "alice", "sms")}, [receipt("a1", "alice", "sms", n=2)])

    assert (result.missing, result.extra, result.duplicated) == ([], [], [])
    assert result.raw_duplicates == 1
    assert not result.ok


def test_compare_checks_delivery_count_as_the_total_across_channels() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=2), alert("a2", NANTES, "standard", 1)]
    expected = {
        ("a1", "alice", "push"),
        ("a1", "alice", "sms"),
        ("a1", "bob", "slack"),
        ("a2", "carol", "push"),
    }
    receipts = [receipt(a, u, c) for a, u, c in sorted(expected)]

    result = compare(alerts, expected, receipts)

    assert result.count_mismatches == [("a1", 2, 3)]
    assert not result.ok


def test_latencies_use_the_first_receipt_of_each_delivery_per_channel() -> None:
    alerts = [
        alert("a1", LA_ROCHELLE, "critical", posted_at=100.0),
        alert("a2", NANTES, "critical", posted_at=200.0),
    ]
    receipts = [
        receipt("a1", "alice", at=100.25),
        receipt("a1", "alice", at=100.1),
        receipt("a1", "alice", "sms", at=100.3),
        receipt("a2", "bob", at=200.5),
    ]

    latencies = latencies_ms(alerts, receipts)

    assert sorted(latencies["push"]) == pytest.approx([100.0, 500.0])
    assert latencies["sms"] == pytest.approx([300.0])


@pytest.mark.parametrize(
    ("pct", "value"), [(50, 5.0), (95, 10.0), (90, 9.0), (10, 1.0), (1, 1.0), (100, 10.0)]
)
def test_percentile_is_nearest_rank(pct: float, value: float) -> None:
    assert percentile([7.0, 1.0, 10.0, 2.0, 9.0, 3.0, 8.0, 4.0, 6.0, 5.0], pct) == value


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile([42.0], 95) == 42.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_report_lists_counts_per_channel_and_the_first_problems() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=3)]
    result = Comparison(
        {"push": 2, "sms": 1},
        {"push": 2, "email": 1},
        [("a1", "alice", "sms")],
        [("a1", "alice", "email")],
        [("a1", "bob", "push")],
        0,
        [],
    )

    report = format_report(alerts, result, {"push": [100.0, 300.0], "email": [250.0]}, timeout=60)

    assert "alerts posted:      1 (1 critical, 0 standard)" in report
    assert "expected receipts:  3" in report
    assert "missing:            1" in report
    lines = report.splitlines()
    table = lines.index(next(line for line in lines if line.startswith("channel")))
    assert lines[table].split() == [
        "channel",
        "expected",
        "received",
        "missing",
        "extra",
        "duplicated",
        "latency",
        "(ms)",
    ]
    # push first, then the other channels by name
    assert [line.split()[:6] for line in lines[table + 1 : table + 4]] == [
        ["push", "2", "2", "0", "0", "1"],
        ["email", "0", "1", "0", "1", "0"],
        ["sms", "1", "0", "1", "0", "0"],
    ]
    assert lines[table + 1].endswith("p50 100  p95 300  max 300")
    assert lines[table + 3].endswith("n/a")
    assert "latency (ms):       p50 250  p95 300  max 300" in report
    assert "timed out after 60s; first missing (alert, user, channel): [('a1', 'alice', 'sms')]" in report
    assert "first extra (alert, user, channel): [('a1', 'alice', 'email')]" in report
    assert report.endswith("FAILED")


def test_report_of_a_clean_run_ends_ok() -> None:
    report = format_report([], Comparison({}, {}, [], [], [], 0, []), {}, timeout=60)

    assert "latency (ms):       n/a" in report
    assert report.endswith("OK")


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("http://127.0.0.1:5000/webhook/generic/e2e-1234", "generic/e2e-1234"),
        ("http://127.0.0.1:5000/teams/webhook/e2e-1234/", "webhook/e2e-1234"),
        ("generic/e2e-1234", "generic/e2e-1234"),
        ("+33612345678", "+33612345678"),
    ],
)
def test_webhook_addresses_are_keyed_as_the_stub_records_them(address, key):
    assert address_key(address) == key
