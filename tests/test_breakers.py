"""The worker's breakers: a clean one is read once per window, and a success after it costs nothing."""

import pytest
from redis import Redis

from nootification.delivery.breakers import Breakers
from nootification.delivery.circuit import CircuitBreaker
from tests.helpers.clock import Clock

NAME = "push:test"
FAILURES = f"nootification:breaker:{NAME}:failures"


@pytest.fixture
def connection(redis_url) -> Redis:
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    return connection


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breakers(connection, clock) -> Breakers:
    return Breakers(connection, threshold=3, cooldown=30, window=1.0, clock=clock)


def other_worker(connection) -> CircuitBreaker:
    return CircuitBreaker(connection, NAME, threshold=3, cooldown=30)


def test_a_clean_breaker_is_trusted_for_the_window_then_read_again(breakers, connection, clock):
    assert breakers.allow(NAME)
    for _ in range(3):
        other_worker(connection).record_failure()  # another worker opens it
    assert breakers.allow(NAME)  # within the window: not read
    clock.now += 1.5
    assert not breakers.allow(NAME)


def test_a_success_after_a_clean_check_writes_nothing(breakers, connection):
    assert breakers.allow(NAME)
    other_worker(connection).record_failure()  # lands between this worker's check and its success
    breakers.record_success(NAME)
    assert connection.get(FAILURES) == b"1"


def test_a_success_after_a_check_that_saw_failures_clears_them(breakers, connection):
    other_worker(connection).record_failure()
    assert breakers.allow(NAME)
    breakers.record_success(NAME)
    assert connection.keys("nootification:breaker:*") == []


def test_a_failure_is_written_at_once_and_ends_the_trust(breakers, connection):
    assert breakers.allow(NAME)
    for _ in range(3):
        breakers.record_failure(NAME)
    assert connection.get(FAILURES) == b"3"
    assert not breakers.allow(NAME)
    assert breakers.retry_in(NAME) > 0
