"""The sender interface, its errors and the one retry policy every channel shares."""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from marshmallow import Schema
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from nootification.config import read_secret

log = logging.getLogger(__name__)


class SendError(Exception):
    """A message could not be delivered."""


class TransientSendError(SendError):
    """A failure worth retrying: network trouble, a timeout, a 5xx, a 408 or a 429."""

    def __init__(self, reason: str, *, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """A failure that retrying cannot fix, such as a 4xx refusal of the message."""


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
    max_retry_after: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping) -> "RetryPolicy":
        """The policy an application is configured with."""
        return cls(
            max_attempts=config["SEND_MAX_ATTEMPTS"],
            wait_seconds=config["SEND_RETRY_WAIT"],
            max_retry_after=config["SEND_RETRY_AFTER_MAX"],
        )

    def wait_after(self, error: TransientSendError) -> float:
        """Seconds before the next try: the configured wait, or the provider's Retry-After up to a cap."""
        retry_after = error.retry_after or 0.0
        # Capped because a worker sleeping for an hour-long Retry-After would hold up every other delivery.
        return max(self.wait_seconds, min(retry_after, self.max_retry_after))


@dataclass(frozen=True)
class AttemptOutcome:
    """The result of one try: its number, and the error if it failed."""

    number: int
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

    def send(self, message: Message) -> None:
        """Make one attempt to deliver the message; raise a `SendError` subclass on failure."""
        raise NotImplementedError

    def deliver(self, message: Message, on_attempt: AttemptCallback | None = None) -> int:
        """Send with retries on transient errors; return the attempts used or raise the last error."""
        policy = self.retry_policy
        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientSendError),
            sleep=self._sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                try:
                    self.send(message)
                except SendError as error:
                    self._report(message, AttemptOutcome(number, error), on_attempt)
                    raise
                self._report(message, AttemptOutcome(number, None), on_attempt)
        return number

    def _wait(self, retry_state: RetryCallState) -> float:
        # Only TransientSendError is retried, so that is what the failed attempt raised.
        return self.retry_policy.wait_after(retry_state.outcome.exception())

    def _report(self, message: Message, outcome: AttemptOutcome, on_attempt: AttemptCallback | None) -> None:
        total = self.retry_policy.max_attempts
        if outcome.error is None:
            log.info("delivery %s attempt %d/%d: sent", message.delivery_id, outcome.number, total)
        elif isinstance(outcome.error, TransientSendError) and outcome.number < total:
            log.warning(
                "delivery %s attempt %d/%d: %s, retrying",
                message.delivery_id,
                outcome.number,
                total,
                outcome.error,
            )
        else:
            log.error(
                "delivery %s attempt %d/%d: %s, giving up",
                message.delivery_id,
                outcome.number,
                total,
                outcome.error,
            )
        if on_attempt is not None:
            on_attempt(outcome)
