"""The sender interface, its errors and the one retry policy every channel shares."""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from marshmallow import Schema
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_fixed

from nootification.circuit import CircuitBreaker
from nootification.config import read_secret
from nootification.ssrf import non_public_reason

log = logging.getLogger(__name__)


class SendError(Exception):
    """A message could not be delivered."""

    def __init__(self, reason: str, *, http_status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.http_status = http_status
        self.retry_after = retry_after


class TransientSendError(SendError):
    """A failure worth retrying: network trouble, a timeout, a 5xx, a 408 or a 429."""


class PermanentSendError(SendError):
    """A failure that retrying cannot fix, such as a 4xx refusal of the message."""


class CircuitOpenError(SendError):
    """The destination's circuit breaker is open: nothing was attempted; try again in `retry_after` s."""


@dataclass(frozen=True)
class Message:
    """Everything a channel needs to tell one user about one alert."""

    delivery_id: str
    user_uuid: str
    address: str | None
    alert_uuid: str
    url: str
    location: str
    label: str
    severity: str
    time_spotted: float
    subject: str = ""
    body: str = ""
    options: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a send is tried and how long to wait between tries."""

    max_attempts: int = 3
    wait_seconds: float = 3.0

    @classmethod
    def from_config(cls, config: Mapping) -> "RetryPolicy":
        """The policy an application is configured with."""
        return cls(max_attempts=config["SEND_MAX_ATTEMPTS"], wait_seconds=config["SEND_RETRY_WAIT"])


@dataclass(frozen=True)
class AttemptOutcome:
    """The result of one try: its number within this delivery run, when it started, how long it took."""

    number: int
    started_at: datetime
    latency: float
    error: SendError | None


AttemptCallback = Callable[[AttemptOutcome], None]


class MessageSender:
    """Delivers messages on one channel; subclasses implement `send` and raise `SendError`s."""

    channel: ClassVar[str]
    # Validates a contact point's {"address": ..., <channel options>} before it is stored.
    config_schema: ClassVar[type[Schema]]
    # Names of the secrets the channel needs, read by `secret()` from the environment or a file.
    secret_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping, *, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.retry_policy = RetryPolicy.from_config(config)
        self._sleep = sleep

    @staticmethod
    def secret(name: str) -> str | None:
        """One of the channel's secrets; they never live in the database."""
        try:
            return read_secret(name)
        except OSError as error:
            raise PermanentSendError(f"cannot read {name}_FILE: {error.strerror}") from None

    def required_secret(self, name: str) -> str:
        """A secret the channel cannot send without; PermanentSendError naming it when it is not set."""
        value = self.secret(name)
        if not value:
            raise PermanentSendError(f"secret {name} is not set")
        return value

    @staticmethod
    def address(message: Message) -> str:
        """The contact point's address; PermanentSendError when the message has none."""
        if not message.address:
            raise PermanentSendError("the contact point has no address")
        return message.address

    def public_url(self, message: Message) -> str:
        """The message's address as a URL to call, refused when it reaches a non-public address (SSRF).

        Checked again at send time, since a name's DNS answer may have changed since it was saved.
        """
        url = self.address(message)
        if not self.config["ALLOW_PRIVATE_WEBHOOK_TARGETS"]:
            reason = non_public_reason(url)
            if reason:
                raise PermanentSendError(f"refused to call the address: {reason}")
        return url

    def send(self, message: Message) -> None:
        """Make one attempt to deliver the message; raise a `SendError` subclass on failure."""
        raise NotImplementedError

    def destination(self, message: Message) -> str:
        """Where the message goes, as a circuit-breaker name: the provider's host by default."""
        return self.channel

    def _retries_inline(self, error: SendError, number: int) -> bool:
        # A worker retries quick failures itself; a provider asking for a longer pause gets it
        # through rescheduling instead, so no worker sleeps through long waits.
        return (
            isinstance(error, TransientSendError)
            and number < self.retry_policy.max_attempts
            and (error.retry_after is None or error.retry_after <= self.retry_policy.wait_seconds)
        )

    def _retry_inline(self, retry_state: RetryCallState) -> bool:
        return self._retries_inline(retry_state.outcome.exception(), retry_state.attempt_number)

    def deliver(
        self,
        message: Message,
        *,
        breaker: CircuitBreaker | None = None,
        on_attempt: AttemptCallback | None = None,
    ) -> int:
        """Send with quick retries on transient errors; return the attempts used or raise the last error.

        Raises `CircuitOpenError`, without attempting, while the destination's breaker is open.
        """
        policy = self.retry_policy
        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait_fixed(policy.wait_seconds),
            retry=self._retry_inline,
            sleep=self._sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                if breaker is not None and not breaker.allow():
                    raise CircuitOpenError(f"circuit {breaker.name} is open", retry_after=breaker.retry_in())
                self._attempt(message, number, breaker, on_attempt)
        return number

    def _attempt(
        self,
        message: Message,
        number: int,
        breaker: CircuitBreaker | None,
        on_attempt: AttemptCallback | None,
    ) -> None:
        started_at, started = datetime.now(UTC), time.perf_counter()
        error: SendError | None = None
        try:
            self.send(message)
        except SendError as caught:
            error = caught
        if breaker is not None and error is None:
            breaker.record_success()
        elif breaker is not None and isinstance(error, TransientSendError):
            breaker.record_failure()
        outcome = AttemptOutcome(number, started_at, time.perf_counter() - started, error)
        self._report(message, outcome, on_attempt)
        if error is not None:
            raise error

    def _report(self, message: Message, outcome: AttemptOutcome, on_attempt: AttemptCallback | None) -> None:
        total = self.retry_policy.max_attempts
        error = outcome.error
        if error is None:
            log.info("delivery %s attempt %d/%d: sent", message.delivery_id, outcome.number, total)
        else:
            log.warning(
                "delivery %s attempt %d/%d: %s: %s, %s",
                message.delivery_id,
                outcome.number,
                total,
                type(error).__name__,
                error,
                "retrying" if self._retries_inline(error, outcome.number) else "giving up",
            )
        if on_attempt is not None:
            on_attempt(outcome)
