"""One delivery's attempts in one sending slot: send, and retry quick failures at once, as the policy says."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.exceptions import RedisError
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_fixed

from nootification.delivery.breakers import Breakers, CircuitOpenError
from nootification.delivery.ladder import NotNeededError
from nootification.delivery.lease import LeasedDelivery
from nootification.delivery.retry import LeaseEndingError, QuickRetries
from nootification.senders.base import Message, MessageSender, SendError, TransientSendError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ready:
    """A leased delivery whose first attempt is recorded as started: a slot may send it now."""

    delivery: LeasedDelivery
    message: Message
    sender: MessageSender
    breaker: str

    @property
    def first_number(self) -> int:
        """The ledger number of the slot's first attempt."""
        return self.delivery.attempts + 1


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt went: its number in the delivery's ledger, when it started, how long it took."""

    number: int
    started_at: datetime
    latency: float
    error: SendError | None
    provider_ref: str | None = None


@dataclass
class SlotResult:
    """What one slot did for a delivery: every attempt it made, and the error that ended them, if any."""

    attempts: list[AttemptResult] = field(default_factory=list)
    error: SendError | None = None


StartAttempt = Callable[[str, int, datetime], None]
"""Records (delivery id, attempt number, start) in the ledger as in flight, committed."""
NotNeeded = Callable[[LeasedDelivery, bool], str | None]
"""Why a delivery (its sender rings or not) is no longer needed, else None (ladder.not_needed_now)."""


def run_attempts(
    item: Ready,
    *,
    breakers: Breakers,
    quick: QuickRetries,
    start_attempt: StartAttempt,
    not_needed: NotNeeded | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SlotResult:
    """Send the message; retry quick transient failures in this slot, each recorded as started first.

    The first attempt's ledger row and breaker check were done when the delivery was leased; a retry
    asks the breaker again, makes sure the worker's lease outlasts it (or puts the delivery off), asks
    `not_needed` whether someone acted on the alert meanwhile (a ladder's later step, a call: then no retry),
    and records its own start through `start_attempt` before its request leaves.
    """
    result = SlotResult()
    breaker, first_number = item.breaker, item.first_number

    def retry_now(state: RetryCallState) -> bool:
        return quick.retries_now(state.outcome.exception(), state.attempt_number)

    retrying = Retrying(
        stop=stop_after_attempt(quick.max_attempts),
        wait=wait_fixed(quick.wait_seconds),
        retry=retry_now,
        sleep=sleep,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                number = first_number + attempt.retry_state.attempt_number - 1
                if number > first_number:
                    allowed = _allowed(breakers, breaker)
                    if allowed is None:
                        raise CircuitOpenError(f"circuit {breaker} cannot be read", retry_after=1.0)
                    if not allowed:
                        raise CircuitOpenError(
                            f"circuit {breaker} is open", retry_after=breakers.retry_in(breaker)
                        )
                    # Asking the breaker may have waited on a stalled Redis for longer than the lease.
                    if not quick.leaves_time(item.delivery.lease, datetime.now(UTC)):
                        raise LeaseEndingError("the lease ends before another attempt could: put off")
                    reason = not_needed(item.delivery, item.sender.rings) if not_needed else None
                    if reason:
                        raise NotNeededError(reason)
                    start_attempt(item.delivery.id, number, datetime.now(UTC))
                result.attempts.append(_attempt(item.sender, item.message, number, breaker, breakers))
                if result.attempts[-1].error is not None:
                    raise result.attempts[-1].error
    except SendError as error:
        result.error = error
    return result


def _allowed(breakers: Breakers, breaker: str) -> bool | None:
    """Whether the breaker lets a retry through; None when it cannot be read (Redis failing)."""
    try:
        return breakers.allow(breaker)
    except RedisError as trouble:
        log.warning("breaker %s cannot be read, the retry is put off: %s", breaker, trouble)
        return None


def _attempt(
    sender: MessageSender, message: Message, number: int, breaker: str, breakers: Breakers
) -> AttemptResult:
    started_at, started = datetime.now(UTC), time.perf_counter()
    error: SendError | None = None
    provider_ref: str | None = None
    try:
        if message.edits is None:
            provider_ref = sender.send(message)
        else:
            sender.edit(message.edits, message)
    except SendError as caught:
        error = caught
    latency = time.perf_counter() - started
    # The send's outcome matters more than the breaker's count: Redis failing here must not lose it.
    try:
        if error is None:
            breakers.record_success(breaker)
        elif isinstance(error, TransientSendError):
            breakers.record_failure(breaker)
    except RedisError as trouble:
        log.warning("delivery %s: breaker %s not updated: %s", message.delivery_id, breaker, trouble)
    if error is not None:
        log.warning(
            "delivery %s attempt %d: %s: %s", message.delivery_id, number, type(error).__name__, error
        )
    return AttemptResult(number, started_at, latency, error, provider_ref)
