import random
from datetime import UTC, datetime, timedelta

import pytest

from nootification.config import Config
from nootification.delivery.retry import backoff_delay, retry_delay
from nootification.models import Severity, deadline_for

CONFIG = {
    "RETRY_BACKOFF_BASE": 5.0,
    "RETRY_BACKOFF_CAP": 300.0,
    "RETRY_AFTER_MAX": 600.0,
    "FRESHNESS_CRITICAL": 900.0,
    "FRESHNESS_STANDARD": 3600.0,
}


@pytest.mark.parametrize(
    ("retry_round", "ceiling"), [(0, 5.0), (1, 10.0), (3, 40.0), (6, 300.0), (500, 300.0)]
)
def test_backoff_is_full_jitter_under_an_exponential_capped_ceiling(retry_round, ceiling):
    rng = random.Random(7)
    delays = [backoff_delay(retry_round, base=5.0, cap=300.0, rng=rng) for _ in range(2000)]
    assert all(0.0 <= delay <= ceiling for delay in delays)
    assert max(delays) > 0.9 * ceiling
    assert min(delays) < 0.1 * ceiling


@pytest.mark.parametrize(
    ("retry_after", "at_least", "at_most"), [(None, 0.0, 5.0), (120.0, 120.0, 120.0), (5000.0, 600.0, 600.0)]
)
def test_retry_after_is_honoured_and_clamped(retry_after, at_least, at_most):
    delay = retry_delay(0, retry_after, CONFIG, rng=random.Random(1))
    assert at_least <= delay <= at_most


def test_deadline_depends_on_severity():
    received = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert deadline_for(received, Severity.CRITICAL, CONFIG) == received + timedelta(minutes=15)
    assert deadline_for(received, Severity.STANDARD, CONFIG) == received + timedelta(hours=1)


def test_default_freshness_is_15_minutes_critical_and_an_hour_standard():
    assert (Config.FRESHNESS_CRITICAL, Config.FRESHNESS_STANDARD) == (900.0, 3600.0)
