"""One delivery's attempts in a sending slot: quick retries, their waits, the ledger first, the breaker."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from nootification.delivery.attempt import Ready, run_attempts
from nootification.delivery.breakers import CircuitOpenError
from nootification.delivery.ladder import NotNeededError
from nootification.delivery.retry import Later, LeaseEndingError, QuickRetries, after_failure
from nootification.senders.base import PermanentSendError, TransientSendError
from nootification.senders.push import PushSender
from tests.helpers.senders import sample_message, sender_config


class OpenAfter:
    """Stands in for the worker's breakers: allows `allowed` checks, then says the breaker is open."""

    def __init__(self, allowed: int = 1000):
        self.allowed = allowed
        self.results: list[str] = []

    def allow(self, name: str) -> bool:
        self.allowed -= 1
        return self.allowed >= 0

    def retry_in(self, name: str) -> float:
        return 30.0

    def record_success(self, name: str) -> None:
        self.results.append("success")

    def record_failure(self, name: str) -> None:
        self.results.append("failure")


def ready(sender: PushSender, attempts_before: int = 0, lease_left: float = 120.0) -> Ready:
    lease = datetime.now(UTC) + timedelta(seconds=lease_left)
    delivery = SimpleNamespace(id="d-1", attempts=attempts_before, lease=lease)
    return Ready(delivery=delivery, message=sample_message(), sender=sender, breaker="push:stub")


def run(item: Ready, quick: QuickRetries, breakers=None, not_needed=None):
    """Run the slot; return its result, the waits it asked for and the attempts it recorded as started."""
    waits: list[float] = []
    started: list[tuple[str, int]] = []

    def start(delivery_id: str, number: int, at: datetime) -> None:
        started.append((delivery_id, number))

    result = run_attempts(
        item,
        breakers=breakers or OpenAfter(),
        quick=quick,
        start_attempt=start,
        not_needed=not_needed,
        sleep=waits.append,
    )
    return result, waits, started


def test_quick_retries_wait_between_attempts_and_record_each_start_first(stub):
    stub.control(fail_next=2, fail_next_status=502)
    breakers = OpenAfter()

    result, waits, started = run(ready(PushSender(sender_config(stub.url))), QuickRetries(3, 2.5), breakers)

    assert result.error is None
    assert waits == [2.5, 2.5]
    assert [attempt.number for attempt in result.attempts] == [1, 2, 3]
    assert [type(attempt.error) for attempt in result.attempts] == [
        TransientSendError,
        TransientSendError,
        type(None),
    ]
    # The first attempt's row is written with the claim; each retry writes its own before it goes out.
    assert started == [("d-1", 2), ("d-1", 3)]
    assert breakers.results == ["failure", "failure", "success"]
    assert stub.messages("a-1")["count"] == 1


def test_numbers_follow_the_attempts_made_before(stub):
    stub.control(fail_next=1, fail_next_status=500)
    result, _, started = run(
        ready(PushSender(sender_config(stub.url)), attempts_before=3), QuickRetries(3, 0)
    )
    assert [attempt.number for attempt in result.attempts] == [4, 5]
    assert started == [("d-1", 5)]


def test_the_attempt_count_is_the_policys(stub):
    stub.control(fail_next=4, fail_next_status=500)
    result, _, _ = run(ready(PushSender(sender_config(stub.url))), QuickRetries(5, 0))
    assert len(result.attempts) == 5 and result.error is None


def test_a_transient_failure_on_the_last_attempt_ends_the_slot_with_it(stub):
    stub.control(fail_next=3, fail_next_status=500)
    result, _, _ = run(ready(PushSender(sender_config(stub.url))), QuickRetries(3, 0))
    assert len(result.attempts) == 3
    assert isinstance(result.error, TransientSendError)


def test_a_4xx_ends_the_slot_at_once_as_permanent(stub):
    stub.control(fail_next=1, fail_next_status=422)
    result, waits, started = run(ready(PushSender(sender_config(stub.url))), QuickRetries(3, 3.0))
    assert isinstance(result.error, PermanentSendError) and "HTTP 422" in str(result.error)
    assert (len(result.attempts), waits, started) == (1, [], [])


def test_no_retry_once_someone_acted_on_the_alert(stub):
    stub.control(fail_next=3, fail_next_status=500)
    asked = []

    def not_needed(delivery, rings: bool) -> str | None:
        asked.append((delivery.id, rings))
        return "not needed: someone is on the alert"

    item = ready(PushSender(sender_config(stub.url)))
    result, _, started = run(item, QuickRetries(3, 0), not_needed=not_needed)

    assert len(result.attempts) == 1 and started == []
    assert (
        isinstance(result.error, NotNeededError)
        and str(result.error) == "not needed: someone is on the alert"
    )
    assert asked == [("d-1", False)]


def test_a_retry_asks_the_breaker_first_and_stops_when_it_is_open(stub):
    stub.control(fail_next=3, fail_next_status=500)
    result, _, started = run(ready(PushSender(sender_config(stub.url))), QuickRetries(3, 0), OpenAfter(1))
    assert len(result.attempts) == 2
    assert isinstance(result.error, CircuitOpenError) and result.error.retry_after == 30.0
    assert started == [("d-1", 2)]


@pytest.mark.parametrize(
    ("retry_after", "attempts"),
    [(None, 3), (1, 3), (3, 3), (4, 1), (3600, 1)],
    ids=["none", "1s", "3s", "4s", "1h"],
)
def test_only_a_short_retry_after_is_waited_for_in_the_slot(stub, retry_after, attempts):
    sender = PushSender(sender_config(stub.url))
    sender.send = lambda message: (_ for _ in ()).throw(
        TransientSendError("HTTP 429", retry_after=retry_after)
    )
    result, waits, _ = run(ready(sender), QuickRetries(3, 3.0))
    assert len(result.attempts) == attempts
    assert waits == [3.0] * (attempts - 1)


def test_a_retry_that_would_outlast_the_lease_is_not_sent_and_the_delivery_is_put_off(stub, app):
    # A stalled Redis can hold a slot's breaker check past its lease; the sweeper may have given the
    # delivery to another worker by then, so sending it here too would send it twice.
    stub.control(fail_next=1, fail_next_status=502)
    item = ready(PushSender(sender_config(stub.url)), lease_left=3.0)
    result, _, started = run(item, QuickRetries(3, 0, attempt_seconds=5.0))
    assert len(result.attempts) == 1 and isinstance(result.error, LeaseEndingError)
    assert started == []
    assert stub.messages()["count"] == 0
    step = after_failure(result.error, retry_round=0, deadline=None, now=datetime.now(UTC), config=app.config)
    assert isinstance(step, Later) and not step.backoff


def test_a_retry_well_within_the_lease_goes_out(stub):
    stub.control(fail_next=1, fail_next_status=502)
    result, _, started = run(
        ready(PushSender(sender_config(stub.url)), lease_left=30.0), QuickRetries(3, 0, 5.0)
    )
    assert result.error is None and started == [("d-1", 2)]


class RedisFailing(OpenAfter):
    """Breakers whose Redis fails: every read and write raises."""

    def allow(self, name: str) -> bool:
        raise RedisTimeoutError("Timeout reading from socket")

    def record_success(self, name: str) -> None:
        raise RedisTimeoutError("Timeout reading from socket")

    def record_failure(self, name: str) -> None:
        raise RedisTimeoutError("Timeout reading from socket")


def test_a_send_that_went_out_stays_sent_when_its_breaker_cannot_be_updated(stub):
    result, _, _ = run(ready(PushSender(sender_config(stub.url))), QuickRetries(3, 0), RedisFailing())
    assert result.error is None and len(result.attempts) == 1
    assert stub.messages()["count"] == 1


def test_a_retry_whose_breaker_cannot_be_read_is_put_off_unsent(stub):
    stub.control(fail_next=1, fail_next_status=502)
    result, _, started = run(ready(PushSender(sender_config(stub.url))), QuickRetries(3, 0), RedisFailing())
    assert len(result.attempts) == 1 and isinstance(result.error, CircuitOpenError)
    assert started == [] and stub.messages()["count"] == 0
