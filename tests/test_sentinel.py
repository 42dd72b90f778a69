"""Redis without a single point of failure: the API, a worker and the scheduler reach Redis through Sentinel;
the primary is SIGKILLed during a steady run; the replica is promoted and they follow it, losing nothing
accepted and sending nothing twice."""

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
import requests
from rq_scheduler import Scheduler

from bench.stack import Stack
from nootification.config import TestConfig
from nootification.periodic import SWEEPER_ID
from nootification.redis_connection import connect
from tests.helpers.sentinel import SentinelCluster, find_sentinel

SENTINEL = find_sentinel()
pytestmark = [
    pytest.mark.skipif(
        SENTINEL is None, reason="Debian's redis-sentinel is not installed (apt-get install redis-sentinel)"
    ),
    pytest.mark.skipif(
        TestConfig.SQLALCHEMY_DATABASE_URI.startswith("postgresql"),
        reason="its stack keeps its own SQLite database: the SQLite pass of the suite runs it",
    ),
]

STAFF = 3
RATE = 8.0  # alerts per second
BEFORE_KILL = 4.0  # seconds of steady run before the primary is killed
AFTER_PROMOTION = 5.0  # seconds of steady run once the replica is primary
SETTINGS = {
    "HTTP_CONNECT_TIMEOUT": "1",
    "HTTP_READ_TIMEOUT": "2",
    "SEND_RETRY_WAIT": "0.2",
    "RETRY_BACKOFF_BASE": "0.5",
    "RETRY_BACKOFF_CAP": "2",
    "SWEEP_INTERVAL": "1",
    "PENDING_GRACE": "2",
    # Longer than the failover (about 3 s), so no lease runs out under a worker still sending.
    "DELIVERY_LEASE": "15",
    "GROUP_WINDOW_SECONDS": "0",
    "MAX_MESSAGES_PER_PERSON": "0",
}


class Poster:
    """Posts alerts at RATE until stopped, as a camera system would: again on an error, until answered."""

    def __init__(self, api: str, token: str, shop: str):
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.api, self.shop = api, shop
        self.accepted: dict[str, float] = {}  # alert_uuid -> time.time() of its 200/201
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def post(self, alert_uuid: str) -> None:
        """POST one alert until the API stores it (201, or 200 for a retry of one it stored)."""
        body = {
            "url": f"https://media.example.com/{alert_uuid}.mp4",
            "location": self.shop,
            "alert_uuid": alert_uuid,
            "label": "normal",
            "time_spotted": time.time(),
        }
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                response = self.session.post(f"{self.api}/webhooks/alerts", json=body, timeout=15)
                if response.status_code in (200, 201):
                    self.accepted[alert_uuid] = time.time()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"alert {alert_uuid} was never accepted")

    def run(self) -> None:
        """Post until stopped."""
        while not self.stopping.is_set():
            self.post(str(uuid.uuid4()))
            time.sleep(1 / RATE)


def create_staff(api: str, token: str) -> tuple[str, list[str]]:
    """A shop and STAFF members of it (push only), through the admin API."""
    headers = {"Authorization": f"Bearer {token}"}
    shop = f"sentinel-{uuid.uuid4().hex[:8]}"
    requests.post(f"{api}/locations", json={"name": shop}, headers=headers, timeout=10).raise_for_status()
    users = []
    for _ in range(STAFF):
        body = {"level": "STANDARD", "locations": [shop]}
        response = requests.post(f"{api}/users", json=body, headers=headers, timeout=10)
        response.raise_for_status()
        users.append(response.json()["user_uuid"])
    return shop, users


def received(stub_url: str) -> Counter:
    """How many times the stub received each (alert, user) push: records under distinct keys and repeats
    of one key both count."""
    messages = requests.get(f"{stub_url}/messages", params={"channel": "push"}, timeout=10).json()["messages"]
    counts: Counter = Counter()
    for message in messages:
        counts[message["alert_uuid"], message["target_user_uuid"]] += message["receipts"]
    return counts


def wait_until(check, timeout: float) -> bool:
    """Poll `check` every 0.2 s until it holds or `timeout` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def is_ready(api_url: str) -> bool:
    """Whether the API's /ready says its database, Redis, a worker and the scheduler are all up."""
    return requests.get(f"{api_url}/ready", timeout=10).status_code == 200


def rate_limit_remaining(stack: Stack) -> int:
    """What the API's rate limit leaves the admin token, as its answer's header says (-1: no header)."""
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    response = requests.get(f"{stack.api_url}/locations", headers=headers, timeout=10)
    return int(response.headers.get("X-RateLimit-Remaining", -1))


def sweep_scheduled_at(url: str) -> float:
    """When the periodic sweep is next due, as the current primary's rq-scheduler schedule says (0: not)."""
    return connect(url).zscore(Scheduler.scheduled_jobs_key, SWEEPER_ID) or 0.0


@dataclass
class Outcome:
    """What a steady run through a failover left: what was accepted and when, what the stub received."""

    users: list[str]
    accepted: dict[str, float]
    promoted: float
    counts: Counter
    ready: requests.Response
    scheduler_followed: bool
    remaining: list[int]  # X-RateLimit-Remaining of two requests after the promotion
    delivered_before: int  # (alert, user) pairs the stub had received when the primary was killed


def steady_run_through_a_failover(cluster: SentinelCluster, stack: Stack) -> Outcome:
    """Post alerts steadily, SIGKILL the primary, wait for the promotion, post on; then wait for the sends."""
    shop, users = create_staff(stack.api_url, stack.admin_token)
    # The worker and the scheduler register on the first primary first: on a busy host they take a while.
    assert wait_until(lambda: is_ready(stack.api_url), timeout=60), "the stack never became ready"
    poster = Poster(stack.api_url, stack.admin_token, shop)
    poster.thread.start()
    time.sleep(BEFORE_KILL)
    delivered_before = len(received(stack.stub_url))
    cluster.kill_primary()
    promoted = cluster.wait_for_promotion(timeout=20)
    time.sleep(AFTER_PROMOTION)
    poster.stopping.set()
    poster.thread.join(timeout=40)
    expected = {(alert, user) for alert in poster.accepted for user in users}
    wait_until(lambda: set(received(stack.stub_url)) >= expected, timeout=30)
    # The scheduler puts the sweep back on the schedule each time it queues it: a due time past the
    # promotion was written to the new primary by a scheduler that followed it.
    scheduler_followed = wait_until(lambda: sweep_scheduled_at(cluster.url) > promoted + 1, timeout=10)
    remaining = [rate_limit_remaining(stack) for _ in range(2)]
    return Outcome(
        users=users,
        accepted=dict(poster.accepted),
        promoted=promoted,
        counts=received(stack.stub_url),
        ready=requests.get(f"{stack.api_url}/ready", timeout=10),
        scheduler_followed=scheduler_followed,
        remaining=remaining,
        delivered_before=delivered_before,
    )


def test_api_worker_and_scheduler_follow_a_failover_losing_nothing_and_sending_nothing_twice(tmp_path):
    (tmp_path / "stack").mkdir()
    with SentinelCluster(tmp_path) as cluster:
        cluster.start(SENTINEL)
        stack = Stack(
            redis_url=cluster.url, workers=1, api_workers=1, settings=SETTINGS, directory=tmp_path / "stack"
        )
        try:  # not `with stack`: a start that fails half-way must stop what it started too
            stack.start()
            outcome = steady_run_through_a_failover(cluster, stack)
        finally:
            stack.close()
        primary_now = cluster.primary_port_now()

    expected = {(alert, user) for alert in outcome.accepted for user in outcome.users}
    after = [alert for alert, at in outcome.accepted.items() if at > outcome.promoted]
    assert primary_now == cluster.replica_port
    assert outcome.delivered_before > 0, "nothing was delivered through the first primary"
    assert len(outcome.accepted) >= RATE * BEFORE_KILL / 2 and len(after) >= RATE * AFTER_PROMOTION / 2
    assert sorted(expected - set(outcome.counts)) == [], "accepted but never delivered"
    assert {pair: n for pair, n in outcome.counts.items() if n > 1} == {}, "sent twice"
    assert set(outcome.counts) <= expected, "delivered but never accepted"
    assert outcome.ready.status_code == 200, outcome.ready.text
    assert outcome.scheduler_followed
    # The rate limits count on the new primary: the second request has one fewer left than the first.
    assert outcome.remaining[0] - outcome.remaining[1] == 1 and outcome.remaining[1] >= 0
