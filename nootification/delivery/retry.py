"""The one retry policy: quick retries in the slot, then backoff with jitter, until the alert goes stale (or,
for a kind with a cap, until its attempts run out)."""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from nootification.delivery.breakers import CircuitOpenError
from nootification.senders.base import SendError, TransientSendError


def backoff_delay(retry_round: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**round)]."""
    ceiling = min(cap, base * 2 ** min(retry_round, 32))
    return (rng or random).uniform(0.0, ceiling)


def retry_delay(
    retry_round: int, retry_after: float | None, config: Mapping, rng: random.Random | None = None
) -> float:
    """Seconds until the next try: the jittered backoff, but never sooner than the provider asked (capped)."""
    delay = backoff_delay(
        retry_round, base=config["RETRY_BACKOFF_BASE"], cap=config["RETRY_BACKOFF_CAP"], rng=rng
    )
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), config["RETRY_AFTER_MAX"]))
    return delay


class LeaseEndingError(SendError):
    """Nothing was attempted: the worker's lease on the delivery would end before another attempt could."""


@dataclass(frozen=True)
class QuickRetries:
    """How many attempts one sending slot makes at most, how long it waits between them, and how long one
    attempt may take at most (its connect and read timeouts)."""

    max_attempts: int = 3
    wait_seconds: float = 3.0
    attempt_seconds: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping) -> "QuickRetries":
        """The policy an application is configured with."""
        return cls(
            max_attempts=config["SEND_MAX_ATTEMPTS"],
            wait_seconds=config["SEND_RETRY_WAIT"],
            attempt_seconds=max(
                config["HTTP_CONNECT_TIMEOUT"] + config["HTTP_READ_TIMEOUT"], config["SMTP_TIMEOUT"]
            ),
        )

    def leaves_time(self, lease: datetime, now: datetime) -> bool:
        """Whether an attempt started now ends before the lease does: past it, another worker may own the
        delivery and send it too."""
        return now + timedelta(seconds=self.attempt_seconds) < lease

    def retries_now(self, error: BaseException | None, attempts: int) -> bool:
        """Whether the slot tries again after `attempts` attempts ending in `error`.

        Only a transient failure, while attempts are left, and when the provider asks for no longer a
        pause than the slot's own wait: a longer wait is a reschedule, so no slot sleeps through it.
        """
        return (
            isinstance(error, TransientSendError)
            and attempts < self.max_attempts
            and (error.retry_after is None or error.retry_after <= self.wait_seconds)
        )


@dataclass(frozen=True)
class Later:
    """Try the delivery again at `at`; `backoff` says whether that was a backoff round (else a deferral)."""

    at: datetime
    backoff: bool
    reason: str


@dataclass(frozen=True)
class Expire:
    """Give the delivery up: no try can happen before its alert goes stale."""

    reason: str


@dataclass(frozen=True)
class GiveUp:
    """Fail the record for good: it had every attempt its kind allows."""

    reason: str


def after_failure(
    error: SendError,
    *,
    retry_round: int,
    deadline: datetime | None,
    now: datetime,
    config: Mapping,
    max_rounds: int | None = None,
) -> Later | Expire | GiveUp:
    """What becomes of a delivery whose slot ended on a transient failure, an open circuit or its lease.

    A kind with a cap (`max_rounds`, the vendor's events) fails once that many rounds of tries (a slot's quick
    retries are one round) failed; a deferral (open circuit, lease ending) tried nothing and never counts.
    """
    if isinstance(error, CircuitOpenError | LeaseEndingError):
        at = now + timedelta(seconds=max(error.retry_after or 0.0, 0.5))
        if deadline is not None and at > deadline:
            return Expire(f"{error} until after the alert goes stale")
        return Later(at, backoff=False, reason=str(error))
    if max_rounds is not None and retry_round + 1 >= max_rounds:
        return GiveUp(f"{retry_round + 1} rounds of tries, the most allowed; last error: {error}")
    at = now + timedelta(seconds=retry_delay(retry_round, error.retry_after, config))
    if deadline is not None and at > deadline:
        return Expire(f"no retry before the alert goes stale; last error: {error}")
    return Later(at, backoff=True, reason=str(error))
