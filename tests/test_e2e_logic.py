import random

import pytest

from e2e import (
    Comparison,
    PostedAlert,
    Received,
    User,
    compare,
    expected_receipts,
    format_report,
    latencies_ms,
    percentile,
    plan_alerts,
    plan_preferences,
    with_levels,
)

LA_ROCHELLE = "fr-auchan-larochelle"
NANTES = "fr-leclerc-nantes"

ALICE = User("alice", "STANDARD", frozenset({LA_ROCHELLE}))
BOB = User("bob", "CRITICAL", frozenset({LA_ROCHELLE, NANTES}))
CAROL = User("carol", "STANDARD", frozenset({NANTES}))
DAVE = User("dave", "STANDARD", frozenset())
USERS = [ALICE, BOB, CAROL, DAVE]


def alert(
    alert_uuid: str, location: str, severity: str, delivery_count: int = 0, posted_at: float = 100.0
) -> PostedAlert:
    label = "theft" if severity == "critical" else "normal"
    return PostedAlert(alert_uuid, location, label, severity, delivery_count, posted_at)


def message(alert_uuid: str, user_uuid: str, received_at: float = 100.0) -> dict:
    return {"alert_uuid": alert_uuid, "target_user_uuid": user_uuid, "received_at": received_at}


def test_critical_alert_reaches_every_user_of_its_shop() -> None:
    assert expected_receipts([alert("a1", LA_ROCHELLE, "critical")], USERS) == {
        ("a1", "alice"),
        ("a1", "bob"),
    }


def test_standard_alert_skips_critical_only_users() -> None:
    assert expected_receipts([alert("a1", LA_ROCHELLE, "standard")], USERS) == {("a1", "alice")}


def test_expected_receipts_over_several_alerts_and_shops() -> None:
    alerts = [
        alert("a1", NANTES, "critical"),
        alert("a2", NANTES, "standard"),
        alert("a3", "fr-nowhere", "critical"),
    ]

    assert expected_receipts(alerts, USERS) == {("a1", "bob"), ("a1", "carol"), ("a2", "carol")}


def test_with_levels_changes_only_the_planned_users() -> None:
    users = with_levels(USERS, {"alice": "CRITICAL", "bob": "STANDARD"})

    assert [u.level for u in users] == ["CRITICAL", "STANDARD", "STANDARD", "STANDARD"]
    assert expected_receipts([alert("a1", LA_ROCHELLE, "standard")], users) == {("a1", "bob")}


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
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=2)]
    expected = {("a1", "alice"), ("a1", "bob")}

    result = compare(alerts, expected, Received([message("a1", "alice"), message("a1", "bob")], 0))

    assert result == Comparison(2, 2, [], [], [], 0, [])
    assert result.ok


def test_compare_finds_missing_extra_and_duplicated_pairs() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=2)]
    expected = {("a1", "alice"), ("a1", "bob")}
    received = Received([message("a1", "alice"), message("a1", "alice"), message("a1", "carol")], 0)

    result = compare(alerts, expected, received)

    assert result.missing == [("a1", "bob")]
    assert result.extra == [("a1", "carol")]
    assert result.duplicated == [("a1", "alice")]
    assert (result.expected, result.received) == (2, 3)
    assert not result.ok


def test_compare_fails_on_raw_duplicates_at_the_stub() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "standard", delivery_count=1)]

    result = compare(alerts, {("a1", "alice")}, Received([message("a1", "alice")], 1))

    assert (result.missing, result.extra, result.duplicated) == ([], [], [])
    assert result.raw_duplicates == 1
    assert not result.ok


def test_compare_flags_a_wrong_delivery_count() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=3), alert("a2", NANTES, "standard", 1)]
    expected = {("a1", "alice"), ("a1", "bob"), ("a2", "carol")}
    received = Received([message(a, u) for a, u in sorted(expected)], 0)

    result = compare(alerts, expected, received)

    assert result.count_mismatches == [("a1", 3, 2)]
    assert not result.ok


def test_latencies_use_the_first_receipt_of_each_pair() -> None:
    alerts = [
        alert("a1", LA_ROCHELLE, "critical", posted_at=100.0),
        alert("a2", NANTES, "critical", posted_at=200.0),
    ]
    messages = [message("a1", "alice", 100.25), message("a1", "alice", 100.1), message("a2", "bob", 200.5)]

    assert sorted(latencies_ms(alerts, messages)) == pytest.approx([100.0, 500.0])


@pytest.mark.parametrize(
    ("pct", "value"), [(50, 5.0), (95, 10.0), (90, 9.0), (10, 1.0), (1, 1.0), (100, 10.0)]
)
def test_percentile_is_nearest_rank(pct: float, value: float) -> None:
    assert percentile([7.0, 1.0, 10.0, 2.0, 9.0, 3.0, 8.0, 4.0, 6.0, 5.0], pct) == value


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile([42.0], 95) == 42.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_report_lists_counts_and_the_first_problems() -> None:
    alerts = [alert("a1", LA_ROCHELLE, "critical", delivery_count=2)]
    result = Comparison(2, 1, [("a1", "bob")], [("a1", "carol")], [], 0, [])

    report = format_report(alerts, result, [100.0, 300.0], timeout=60)

    assert "alerts posted:      1 (1 critical, 0 standard)" in report
    assert "missing:            1" in report
    assert "timed out after 60s; first missing (alert, user): [('a1', 'bob')]" in report
    assert "first extra (alert, user): [('a1', 'carol')]" in report
    assert "p50 100  p95 300  max 300" in report
    assert report.endswith("FAILED")


def test_report_of_a_clean_run_ends_ok() -> None:
    report = format_report([], Comparison(0, 0, [], [], [], 0, []), [], timeout=60)

    assert "latency (ms):       n/a" in report
    assert report.endswith("OK")
