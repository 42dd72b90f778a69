"""The circuit breaker per destination, its state in Redis."""

import pytest
from redis import Redis

from nootification.delivery.circuit import CircuitBreaker, CircuitState
from tests.helpers.clock import Clock


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def breaker(redis_url, clock):
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    return CircuitBreaker(connection, "push:test", threshold=3, cooldown=30, clock=clock)


def open_until_cooldown_ends(breaker, clock):
    """Fail up to the threshold (3), then let the 30 s cooldown pass."""
    for _ in range(3):
        breaker.record_failure()
    clock.now += 31


def test_opens_after_threshold_consecutive_failures(breaker):
    for _ in range(2):
        breaker.record_failure()
        assert breaker.state() is CircuitState.CLOSED and breaker.check()[0]
    breaker.record_failure()
    assert breaker.state() is CircuitState.OPEN
    assert not breaker.check()[0]
    assert breaker.retry_in() == 30


def test_a_success_resets_the_count(breaker):
    breaker.record_failure()
    breaker.record_failure()
    breaker.close()
    breaker.record_failure()
    assert breaker.state() is CircuitState.CLOSED


def test_half_open_lets_exactly_one_probe_through(breaker, clock):
    open_until_cooldown_ends(breaker, clock)
    assert breaker.state() is CircuitState.HALF_OPEN
    assert breaker.check()[0]
    assert not breaker.check()[0]


def test_successful_probe_closes(breaker, clock):
    open_until_cooldown_ends(breaker, clock)
    assert breaker.check()[0]
    breaker.close()
    assert breaker.state() is CircuitState.CLOSED
    assert breaker.check()[0] and breaker.check()[0]


def test_failed_probe_opens_again_for_a_full_cooldown(breaker, clock):
    open_until_cooldown_ends(breaker, clock)
    assert breaker.check()[0]
    breaker.record_failure()
    assert breaker.state() is CircuitState.OPEN
    assert breaker.retry_in() == 30


def test_state_is_shared_through_redis(breaker, redis_url, clock):
    other_worker = CircuitBreaker(
        Redis.from_url(redis_url), "push:test", threshold=3, cooldown=30, clock=clock
    )
    for _ in range(3):
        breaker.record_failure()
    assert not other_worker.check()[0]
    unrelated = CircuitBreaker(
        Redis.from_url(redis_url), "push:elsewhere", threshold=3, cooldown=30, clock=clock
    )
    assert unrelated.check()[0]


def test_check_says_whether_the_breaker_is_clean(breaker):
    assert breaker.check() == (True, True)
    breaker.record_failure()
    assert breaker.check() == (True, False)
