"""When to try a delivery again, and until when it is worth trying."""

import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from nootification.models import Severity


def freshness(severity: Severity, config: Mapping) -> timedelta:
    """How long after receipt an alert of this severity is still worth delivering."""
    seconds = config["FRESHNESS_CRITICAL"] if severity is Severity.CRITICAL else config["FRESHNESS_STANDARD"]
    return timedelta(seconds=seconds)


def deadline_for(received_at: datetime, severity: Severity, config: Mapping) -> datetime:
    """The moment after which a delivery of this alert expires instead of being sent."""
    return received_at + freshness(severity, config)


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
