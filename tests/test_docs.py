"""The manual: its links lead somewhere, and what it says of the code is what the code does."""

import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from nootification.models import Location
from nootification.services.seed import load_data
from nootification.staff.vendor_events import payload

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "ops" / "RUNBOOK.md",
        ROOT / "bench" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(path: Path) -> str:
    """The page without its code blocks (a link-like string in code is not a link)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of headings: lowercase, punctuation dropped, spaces to '-', repeats numbered."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#+ (.+)$", prose(path), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def relative_links(path: Path) -> list[str]:
    """The links of a page that stay in the repository (no scheme, no mailto)."""
    return [target for target in LINK.findall(prose(path)) if not re.match(r"^[a-z][a-z+.-]*:", target)]


def test_the_manual_is_there():
    names = {path.relative_to(ROOT).as_posix() for path in PAGES}
    assert {"README.md", "ops/RUNBOOK.md", "docs/delivery.md", "docs/configuration.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (destination.suffix != ".md" or anchor not in anchors(destination)):
            broken.append(f"{target}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert broken == []


def test_anchors_follow_githubs_rules(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Ops: metrics, dashboards and alerts\n## Native push: Web Push and FCM\n## Tests\n## Tests\n"
    )
    assert anchors(page) == {
        "ops-metrics-dashboards-and-alerts",
        "native-push-web-push-and-fcm",
        "tests",
        "tests-1",
    }


README = ROOT / "README.md"
STAFF_LOOP = ROOT / "docs" / "staff-loop.md"
DEMO = ROOT / "nootification" / "data" / "demo.json"
HUGO, CAMILLE, ELISE = (
    "93191a53-74b8-5d46-b7b2-d0b978b4f0b1",
    "68ac7e7c-ee30-5ef7-8fe5-c6c320e94a8e",
    "72ef2ad6-8320-58cb-b722-4e721b108ba4",
)
CHANNEL_NAMES = {"push": "push", "sms": "SMS", "telegram": "Telegram", "fcm": "FCM", "email": "email"}
CHANNEL_NAMES |= {"slack": "Slack", "webpush": "Web Push", "teams": "Teams", "webhook": "webhook"}


def try_it_by_hand() -> tuple[str, str]:
    """The README's "Try it by hand": its prose, and its bash block."""
    section = README.read_text(encoding="utf-8").split("## Try it by hand\n", 1)[1].split("\n## Tests", 1)[0]
    prose_part, block = section.split("```bash\n", 1)
    return " ".join(prose_part.split()), block.split("\n```", 1)[0]


def spoken(channels: set[str]) -> str:
    """Channels as the README names them, in routing order: "push, SMS, Telegram and FCM"."""
    names = [CHANNEL_NAMES[channel] for channel in CHANNEL_NAMES if channel in channels]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def test_try_it_by_hand_says_who_hears_on_which_channel(client, db):
    """The demo data's routes and contact points decide it, as a suspicious alert at Hugo's shop shows."""
    load_data(DEMO)
    answer = client.put("/preferences", json={"user_id": HUGO, "level": "STANDARD"})
    assert answer.status_code == 200, answer.get_json()
    alert = str(uuid.uuid4())
    body = {"url": f"https://media.example.com/{alert}.mp4", "location": "fr-auchan-larochelle"}
    body |= {"alert_uuid": alert, "label": "suspicious", "time_spotted": int(time.time())}
    assert client.post("/webhooks/alerts", json=body).status_code == 201
    heard: dict[str, set[str]] = {}
    for delivery in client.get(f"/alerts/{alert}").get_json()["deliveries"]:
        heard.setdefault(delivery["user_uuid"], set()).add(delivery["channel"])
    text, _ = try_it_by_hand()
    assert set(heard) == {HUGO, CAMILLE, ELISE}
    assert f"so he hears on {spoken(heard[HUGO])}." in text
    assert (
        heard[CAMILLE] == heard[HUGO] and "Camille, who asks for every alert, hears on the same four" in text
    )
    assert len(heard[HUGO]) == 4
    assert heard[ELISE] == {"push"} and "so she hears on push alone" in text


def test_try_it_by_hand_reads_the_ports_make_run_was_given():
    _, block = try_it_by_hand()
    assert "${API_PORT:-8000}" in block and "${STUB_PORT:-5000}" in block
    assert not re.search(r"localhost:\d", block)


def test_the_vendor_event_is_documented_field_by_field():
    alert = SimpleNamespace(
        alert_uuid="a", location=SimpleNamespace(name="shop"), label="theft", outcome=None,
        outcome_value_cents=None, claimed_at=None, outcome_at=None, claimed_by=None, outcome_by=None,
    )  # fmt: skip
    event = payload(alert, datetime.now(UTC), None)
    text = " ".join(STAFF_LOOP.read_text(encoding="utf-8").split())
    assert f"`type` `{event['type']}`" in text
    for name in [*event, *event["data"]]:
        assert f"`{name}`" in text, name


def test_the_escalation_delays_are_the_codes():
    column = Location.__table__.c.escalate_after.default.arg
    demo = {location["escalate_after"] for location in json.loads(DEMO.read_text())["locations"]}
    text = " ".join(STAFF_LOOP.read_text(encoding="utf-8").split())
    assert len(demo) == 1
    assert (
        f"({column:g} s for a shop created without it, {demo.pop():g} s in the demo shops; 0: never)" in text
    )
