"""The several-hosts bench (bench/hosts.py): its pure parts, and a tiny run in network namespaces as root."""

import json
from datetime import UTC, datetime

import pytest

from bench import hosts
from bench.hosts_evidence import (
    Attempt,
    connections_by_application,
    longest_gap,
    peak,
    placement,
    repeats,
    takeover,
    tally,
    with_application_name,
)
from bench.netns import (
    link_command,
    plan,
    setup_commands,
    teardown_commands,
    unavailable_reason,
    used_subnets,
)
from bench.postgres import hba_line, server_options
from nootification.config import TestConfig
from nootification.redis_server import server_arguments

CUT_AT = 1_000.0
HOST_OF = {"10.77.5.2": "a", "10.77.5.3": "b"}


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def message(alert: str, user: str, *senders: tuple[str, float]) -> dict:
    return {
        "alert_uuid": alert,
        "target_user_uuid": user,
        "receipts": len(senders),
        "received_at": senders[0][1],
        "senders": [{"address": address, "at": when} for address, when in senders],
    }


def test_the_plan_names_fit_linux_and_addresses_are_private():
    network = plan("ab12", 5)

    assert network.server_address == "10.77.5.1"
    assert [(h.name, h.address) for h in network.hosts] == [("a", "10.77.5.2"), ("b", "10.77.5.3")]
    names = [network.bridge] + [name for h in network.hosts for name in (h.outside, h.inside)]
    assert all(len(name) <= 15 for name in names)
    assert network.host("b").prefix() == ["ip", "netns", "exec", "nt-ab12-b"]


def test_a_subnet_out_of_range_is_refused():
    with pytest.raises(ValueError):
        plan("ab12", 255)


def test_setup_touches_only_its_own_interfaces_and_teardown_removes_them():
    network = plan("ab12", 5)
    ours = {network.bridge} | {name for h in network.hosts for name in (h.outside, h.inside, h.namespace)}

    commands = setup_commands(network)

    for command in commands:
        assert set(command) & ours, command
    assert not any("route" in command for command in commands)
    assert teardown_commands(network) == [
        ["ip", "netns", "delete", "nt-ab12-a"],
        ["ip", "netns", "delete", "nt-ab12-b"],
        ["ip", "link", "delete", "ntab12br"],
    ]


def test_a_cut_sets_the_root_end_of_the_hosts_link_down_and_up_again():
    host = plan("ab12", 5).host("a")

    assert link_command(host, up=False) == ["ip", "link", "set", "ntab12a0", "down"]
    assert link_command(host, up=True) == ["ip", "link", "set", "ntab12a0", "up"]


def test_used_subnets_reads_ip_addr_show():
    listed = (
        "1: lo    inet 127.0.0.1/8 scope host lo\n"
        "5: ntab12br    inet 10.77.42.1/24 scope global ntab12br\n"
        "6: eth0    inet 10.0.0.4/24 brd 10.0.0.255 scope global eth0\n"
    )

    assert used_subnets(listed) == {42}


def test_the_servers_own_postgres_listens_on_its_address_and_trusts_its_24_only():
    assert hba_line("10.77.5.1") == "host all all 10.77.5.0/24 trust\n"
    options = server_options("10.77.5.1", 6000, "/tmp/x")
    assert "-c listen_addresses=10.77.5.1" in options
    assert "-c port=6000" in options


def test_tally_counts_lost_stored_twice_absorbed_and_who_sent():
    expected = {("x", "u1"), ("x", "u2"), ("x", "u3")}
    messages = [
        message("x", "u1", ("10.77.5.2", 1.0)),
        message("x", "u2", ("10.77.5.2", 1.0), ("10.77.5.3", 9.0)),  # the same key twice: absorbed
        message("x", "u2", ("10.77.5.3", 9.5)),  # a second message for the same person: a duplicate
    ]

    counted = tally(expected, messages, HOST_OF)

    assert (counted.expected, counted.received, counted.lost) == (3, 2, 1)
    assert (counted.duplicates, counted.absorbed) == (1, 1)
    assert counted.by_host == {"a": 2, "b": 2}


def test_takeover_finds_what_the_cut_host_held_and_who_finished_it():
    attempts = [
        Attempt("held", 1, "sent", at(CUT_AT - 0.05)),  # the cut host's, in flight at the cut
        Attempt("held", 2, "sent", at(CUT_AT + 11)),  # the other host's, once the lease ended
        Attempt("retried-later", 1, "transient", at(CUT_AT + 1)),
        Attempt("retried-later", 2, "sent", at(CUT_AT + 2)),
    ]
    senders = {
        "held": [
            {"address": "10.77.5.2", "at": CUT_AT - 0.04},
            {"address": "10.77.5.3", "at": CUT_AT + 11.1},
        ],
        "retried-later": [{"address": "10.77.5.3", "at": CUT_AT + 2.1}],
    }

    taken = takeover(attempts, CUT_AT, senders, HOST_OF)

    assert (taken.in_flight, taken.finished, taken.sent_by) == (1, 1, {"b": 1})
    assert taken.first_s == taken.last_s == 11.1


def test_takeover_with_nothing_held():
    taken = takeover([], CUT_AT, {}, HOST_OF)

    assert (taken.in_flight, taken.finished, taken.first_s, taken.last_s) == (0, 0, None, None)


def test_workers_spread_round_robin_over_the_hosts():
    assert placement(1, ["a", "b"]) == ["a"]
    assert placement(4, ["a", "b"]) == ["a", "b", "a", "b"]


def test_each_process_names_itself_in_the_database_url():
    url = with_application_name("postgresql+psycopg://postgres@10.77.5.1:6000/db", "worker-1")

    assert url == "postgresql+psycopg://postgres@10.77.5.1:6000/db?application_name=worker-1"


def test_connections_are_counted_by_application_and_peaked():
    first = connections_by_application([("worker-0", 2), ("", 1), (None, 1)])

    assert first == {"worker-0": 2, "(none)": 2}
    assert peak([first, {"worker-0": 5, "redis_used_memory": 10}]) == {
        "worker-0": 5,
        "(none)": 2,
        "redis_used_memory": 10,
    }


def test_phases_split_each_hosts_sends_around_the_cut():
    messages = [
        message("x", "u1", ("10.77.5.2", CUT_AT - 1)),
        message("x", "u2", ("10.77.5.3", CUT_AT + 1)),
        message("x", "u3", ("10.77.5.2", CUT_AT + 40)),
        message("x", "u4", ("10.77.5.2", CUT_AT + 0.1)),
    ]

    assert hosts.phases(messages, HOST_OF, CUT_AT, CUT_AT + 30) == {
        "before": {"a": 1},
        "at_cut": {"a": 1},
        "during": {"b": 1},
        "after": {"a": 1},
    }


def test_sizing_and_summary_read_the_runs():
    throughput = [
        {"workers": 1, "deliveries_per_s": 100.0, "deliveries_per_s_per_worker": 100.0},
        {"workers": 2, "deliveries_per_s": 180.0, "deliveries_per_s_per_worker": 90.0},
    ]
    samples = [(0.0, {"worker-0": 2, "api+scheduler": 5, "redis_used_memory": 3}), (1.0, {"worker-1": 3})]
    cut = {
        "lost": 0,
        "duplicates": 0,
        "repeats_absorbed_by_key": 2,
        "sent_twice_in_ledger": 1,
        "sent_by_host": {"a": 1, "b": 2},
        "takeover": {"last_s_after_cut": 12.5},
    }

    sized = hosts.sizing(throughput, samples)
    summary = hosts.summary(throughput, cut, sized)

    assert sized["pg_connections_per_worker_max"] == 3
    assert sized["redis_used_memory_max_bytes"] == 3
    assert summary["deliveries_per_s"] == {"1": 100.0, "2": 180.0}
    assert (summary["lost"], summary["duplicates"], summary["takeover_s"]) == (0, 0, 12.5)


@pytest.mark.parametrize("text", ["", "0", "1,-2", "a"])
def test_bad_worker_lists_are_refused(text):
    with pytest.raises((SystemExit, ValueError)):
        hosts.parse_args(["--workers", text])


def test_the_options_default_to_the_issues_run():
    options = hosts.parse_args([])

    assert (options.latency_ms, options.workers, options.cut_seconds) == (100.0, [1, 2, 4], 30.0)


@pytest.mark.skipif(bool(unavailable_reason()), reason=f"needs network namespaces: {unavailable_reason()}")
@pytest.mark.skipif(
    TestConfig.SQLALCHEMY_DATABASE_URI.startswith("postgresql"),
    reason="it starts its own PostgreSQL whatever the suite's database: the suite's SQLite pass runs it",
)
def test_a_host_cut_off_loses_nothing_sends_nothing_twice_and_the_other_takes_over(tmp_path):
    status = hosts.main(
        [
            "--out", str(tmp_path), "--cut-only", "--before", "3", "--cut-seconds", "8", "--after", "2",
            "--env", "DELIVERY_LEASE=3", "--env", "SWEEP_INTERVAL=1",
        ]
    )  # fmt: skip

    results = json.loads((tmp_path / "results.json").read_text())
    summary = results["summary"]
    assert status == 0
    assert (summary["lost"], summary["duplicates"], results["cut"]["not_drained"]) == (0, 0, 0)
    assert results["cut"]["received"] == results["cut"]["expected"] > 0
    assert summary["sent_by_host"]["a"] > 0 and summary["sent_by_host"]["b"] > 0
    during = results["cut"]["sent_by_host_before_during_after_cut"]["during"]
    assert "a" not in during, "nothing reaches the provider from the host cut off"
    assert summary["pg_connections_per_worker_max"] > 0


def test_redis_off_loopback_drops_protected_mode_and_on_loopback_keeps_it(tmp_path):
    off = server_arguments(port=6000, directory=tmp_path, persist=False, bind="10.77.5.1")
    on = server_arguments(port=6000, directory=tmp_path, persist=False)

    assert off[:2] == ["--bind", "10.77.5.1"] and "--protected-mode no" in " ".join(off)
    assert on[:2] == ["--bind", "127.0.0.1"] and "--protected-mode" not in on


def test_longest_gap_counts_from_the_plug_on():
    assert longest_gap([5.0, 10.5, 11.0, 41.0, 42.0], since=10.0) == 30.0
    assert longest_gap([5.0, 12.0], since=10.0) == 2.0
    assert longest_gap([5.0], since=10.0) is None


def test_repeats_name_each_receipts_host_and_time_after_the_cut():
    messages = [
        message("x", "u1", ("10.77.5.2", CUT_AT - 0.1), ("10.77.5.3", CUT_AT + 11.6)),
        message("x", "u2", ("10.77.5.3", CUT_AT + 1)),
    ]

    assert repeats(messages, HOST_OF, CUT_AT) == [["a@-0.1", "b@+11.6"]]
