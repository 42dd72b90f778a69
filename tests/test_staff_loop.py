"""The staff loop: a personal action link in each message, the staff page, "I'm on it" and the outcome."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from nootification.models import Alert, Level, Outcome, Severity
from nootification.observability.logs import mask
from nootification.services.staff_links import link_expiry, link_token, read_token
from nootification.staff.claims import claim, record_outcome
from tests.helpers.factories import alert_payload, make_location, make_user
from tests.helpers.metrics import delta, scrape, value
from tests.helpers.staff import path_of, sent_alert, user_client

SECRET = "test-only-secret-key"


@pytest.fixture
def shop_staff(client):
    """A shop with Camille and Hugo (both told of every alert), and Zoé at another shop."""
    shop = make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris")
    camille = make_user(shop, level=Level.STANDARD, name="Camille")
    hugo = make_user(shop, level=Level.STANDARD, name="Hugo")
    zoe = make_user(make_location(name="fr-other-shop"), level=Level.STANDARD, name="Zoé")
    return camille, hugo, zoe


# The link.


def test_a_link_reads_back_as_its_alert_and_user_until_it_expires():
    alert_uuid, user_uuid = "6f1c3f1e-8a57-4a43-a2f8-2f7f4f1e0c11", "0b7ae2d5-3c8e-4b7a-9a3c-0e7d7c6b5a41"
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    token = link_token(alert_uuid, user_uuid, now + timedelta(minutes=5), SECRET)
    assert len(token) == 70
    scope = read_token(token, [SECRET], now)
    assert (scope.alert_uuid, scope.user_uuid) == (alert_uuid, user_uuid)
    with pytest.raises(Exception, match="expired") as expired:
        read_token(token, [SECRET], now + timedelta(minutes=6))
    assert expired.value.status_code == 410


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature
        lambda token: ("A" if token[0] != "A" else "B") + token[1:],  # the alert
        lambda token: token[:30],  # cut short
        lambda token: "not base64 at all!",
    ],
)
def test_a_forged_or_damaged_link_is_not_found(tamper):
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    token = link_token(
        "6f1c3f1e-8a57-4a43-a2f8-2f7f4f1e0c11", "0b7ae2d5-3c8e-4b7a-9a3c-0e7d7c6b5a41", now, SECRET
    )
    with pytest.raises(Exception, match="not valid") as invalid:
        read_token(tamper(token), [SECRET], now)
    assert invalid.value.status_code == 404


URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def other_spellings(token: str) -> list[str]:
    """Strings a lenient base64 decoder reads as the same bytes as the token."""
    last = URLSAFE.index(token[-1])
    # 70 characters carry 420 bits for 416: the last character's two low bits are spare.
    spare_bits = [token[:-1] + URLSAFE[last ^ flip] for flip in (1, 2, 3)]
    return [
        *spare_bits,
        token + "==",  # padding
        token[:35] + "." + token[35:],  # a character the decoder skips
        token.replace("-", "+").replace("_", "/") if "-" in token or "_" in token else token + "=",
    ]


def test_a_link_has_one_spelling_only():
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    token = link_token(
        "6f1c3f1e-8a57-4a43-a2f8-2f7f4f1e0c11", "0b7ae2d5-3c8e-4b7a-9a3c-0e7d7c6b5a41", now, SECRET
    )
    assert read_token(token, [SECRET], now).user_uuid == "0b7ae2d5-3c8e-4b7a-9a3c-0e7d7c6b5a41"
    for spelling in other_spellings(token):
        with pytest.raises(Exception, match="not valid") as invalid:
            read_token(spelling, [SECRET], now)
        assert invalid.value.status_code == 404, spelling


def test_a_link_altered_in_its_last_characters_spare_bits_is_not_found(shop_staff, client, stub, anonymous):
    camille, _, _ = shop_staff
    _, links = sent_alert(client, stub)
    path = path_of(links[camille.user_uuid])
    assert anonymous.get(f"{path}/state").status_code == 200
    token = path.removeprefix("/s/")
    altered = token[:-1] + URLSAFE[URLSAFE.index(token[-1]) ^ 1]
    answer = anonymous.get(f"/s/{altered}/state")
    assert answer.status_code == 404 and answer.json["errors"] == {"link": ["This link is not valid."]}


def test_a_link_signed_with_another_key_is_not_found():
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    token = link_token(
        "6f1c3f1e-8a57-4a43-a2f8-2f7f4f1e0c11", "0b7ae2d5-3c8e-4b7a-9a3c-0e7d7c6b5a41", now, "another key"
    )
    with pytest.raises(Exception, match="not valid"):
        read_token(token, [SECRET], now)


def test_links_last_while_the_alert_is_fresh_plus_a_few_hours(app):
    received = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    critical = link_expiry(received, Severity.CRITICAL, app.config)
    assert critical == received + timedelta(seconds=app.config["FRESHNESS_CRITICAL"], hours=4)


def test_links_never_reach_a_log_line(shop_staff, client, stub):
    _, links = sent_alert(client, stub)
    link = next(iter(links.values()))
    assert mask(f"GET {path_of(link)} 200") == "GET /s/[link] 200"


# The page and the claim, without JavaScript.


def test_the_page_shows_the_alert_in_the_shops_time_and_who_was_told(shop_staff, client, stub, anonymous):
    camille, hugo, _ = shop_staff
    payload, links = sent_alert(client, stub)
    page = anonymous.get(path_of(links[camille.user_uuid]))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Auchan La Rochelle" in text and "Theft" in text
    assert "12:31:00" in text  # 11:31 UTC, in Paris
    assert f'<video src="{payload["url"]}"' in text
    assert "Camille" in text and "Hugo" in text and "Nobody is on it yet." in text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "media-src https: http:" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_the_first_claim_wins_and_the_others_see_who_is_on_it(shop_staff, client, stub, anonymous):
    camille, hugo, _ = shop_staff
    _, links = sent_alert(client, stub)
    camilles, hugos = path_of(links[camille.user_uuid]), path_of(links[hugo.user_uuid])

    claimed = anonymous.post(f"{camilles}/claim")
    assert claimed.status_code == 303 and claimed.headers["Location"].endswith(camilles)
    assert "You are on it." in anonymous.get(camilles).get_data(as_text=True)
    assert anonymous.post(f"{camilles}/claim").status_code == 303  # again: harmless

    refused = anonymous.post(f"{hugos}/claim")
    assert refused.status_code == 303
    page = anonymous.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Camille is already on it." in page and "Camille is on it." in page
    state = anonymous.get(f"{hugos}/state").json
    assert (state["claimed_by"], state["claimed_by_you"]) == ("Camille", False)
    assert anonymous.get(f"{camilles}/state").json["claimed_by_you"] is True
    assert sorted(person["name"] for person in state["told"]) == ["Camille", "Hugo"]


def test_a_link_shows_colleagues_by_name_only(shop_staff, client, stub, anonymous):
    camille, hugo, _ = shop_staff
    phone = "+33698765432"
    assert (
        client.put(f"/users/{hugo.user_uuid}/contact-points/sms", json={"address": phone}).status_code < 300
    )
    _, links = sent_alert(client, stub)
    camilles, hugos = path_of(links[camille.user_uuid]), path_of(links[hugo.user_uuid])
    anonymous.post(f"{hugos}/claim")

    state = anonymous.get(f"{camilles}/state")
    shown = state.get_data(as_text=True)
    assert state.json["claimed_by"] == "Hugo"
    assert [sorted(person) for person in state.json["told"]] == [["name", "reached"]] * 2
    for secret in (hugo.user_uuid, camille.user_uuid, phone, "sms", "push", "channel", "user_uuid"):
        assert secret not in shown, secret
    page = anonymous.get(camilles).get_data(as_text=True)
    for secret in (hugo.user_uuid, camille.user_uuid, phone, "(push", "sms"):
        assert secret not in page, secret


def test_an_outcome_from_the_page_is_recorded_and_claims_an_unclaimed_alert(
    shop_staff, client, stub, anonymous
):
    camille, hugo, _ = shop_staff
    payload, links = sent_alert(client, stub)
    hugos = path_of(links[hugo.user_uuid])

    form = {"outcome": "theft_stopped", "value_recovered": "49.90", "note": "Two bottles of whisky"}
    recorded = anonymous.post(f"{hugos}/outcome", data=form)
    assert recorded.status_code == 303
    assert "the outcome is recorded" in anonymous.get(recorded.headers["Location"]).get_data(as_text=True)
    alert = Alert.query.filter_by(alert_uuid=payload["alert_uuid"]).one()
    assert (alert.outcome, alert.outcome_value_cents, alert.outcome_note) == (
        Outcome.THEFT_STOPPED,
        4990,
        "Two bottles of whisky",
    )
    assert alert.outcome_by_id == hugo.id and alert.claimed_by_id == hugo.id


def test_an_outcome_someone_else_recorded_is_not_replaced_through_a_link(
    shop_staff, client, stub, anonymous, run_worker
):
    camille, hugo, _ = shop_staff
    payload, links = sent_alert(client, stub)
    camilles, hugos = path_of(links[camille.user_uuid]), path_of(links[hugo.user_uuid])
    assert anonymous.post(f"{hugos}/outcome", data={"outcome": "theft_stopped"}).status_code == 303

    refused = anonymous.post(f"{camilles}/outcome", data={"outcome": "false_alarm"})
    assert refused.status_code == 409
    assert refused.json["errors"] == {
        "outcome": ["Hugo already recorded what happened: only they or an admin may change it."]
    }
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = anonymous.post(f"{camilles}/outcome", data={"outcome": "false_alarm"}, headers=browser)
    assert page.status_code == 409 and page.mimetype == "text/html"
    assert "Hugo already recorded what happened" in page.get_data(as_text=True)
    alert = Alert.query.filter_by(alert_uuid=payload["alert_uuid"]).one()
    assert (alert.outcome, alert.outcome_by_id) == (Outcome.THEFT_STOPPED, hugo.id)

    # Its author corrects it: the earlier value stays in the history.
    corrected = anonymous.post(f"{hugos}/outcome", data={"outcome": "theft_not_stopped", "note": "he ran"})
    assert corrected.status_code == 303
    history = client.get(f"/alerts/{payload['alert_uuid']}").json["outcome_history"]
    assert [(r["outcome"], r["note"], r["user_uuid"], r["token_id"]) for r in history] == [
        ("theft_stopped", None, hugo.user_uuid, None),
        ("theft_not_stopped", "he ran", hugo.user_uuid, None),
    ]
    assert history[0]["recorded_at"] <= history[1]["recorded_at"]


def test_only_the_author_or_an_admin_token_changes_an_outcome_through_the_api(app, shop_staff, client, stub):
    camille, hugo, zoe = shop_staff
    payload, _ = sent_alert(client, stub)
    url = f"/alerts/{payload['alert_uuid']}/outcome"
    assert user_client(app, camille).post(url, json={"outcome": "false_alarm"}).status_code == 200

    taken = user_client(app, hugo).post(url, json={"outcome": "theft_stopped"})
    assert taken.status_code == 409
    assert taken.json["errors"]["outcome"][0].startswith("Camille already recorded what happened")
    assert user_client(app, zoe).post(url, json={"outcome": "theft_stopped"}).status_code == 403
    mine = user_client(app, camille).post(url, json={"outcome": "not_found", "value_recovered": 0})
    assert (mine.status_code, mine.json["outcome"], mine.json["outcome_by"]) == (200, "not_found", "Camille")

    corrected = client.post(url, json={"outcome": "theft_stopped", "value_recovered": 12.5})
    assert corrected.status_code == 200
    assert (corrected.json["outcome"], corrected.json["outcome_by"]) == ("theft_stopped", "An administrator")
    assert corrected.json["claimed_by"] == "Camille"
    again = user_client(app, camille).post(url, json={"outcome": "false_alarm"})
    assert again.status_code == 409
    assert again.json["errors"]["outcome"][0].startswith("An administrator already recorded")

    detail = client.get(f"/alerts/{payload['alert_uuid']}").json
    assert detail["outcome"] == "theft_stopped" and detail.get("outcome_by") is None
    assert [(r["outcome"], r["value_recovered"], r["user_uuid"]) for r in detail["outcome_history"]] == [
        ("false_alarm", None, camille.user_uuid),
        ("not_found", 0.0, camille.user_uuid),
        ("theft_stopped", 12.5, None),
    ]
    assert detail["outcome_history"][-1]["token_id"] is not None


def test_an_admin_token_records_an_outcome_for_any_shop_without_claiming(client, stub):
    make_location(display_name="Auchan La Rochelle")
    payload, _ = sent_alert(client, stub)
    answer = client.post(f"/alerts/{payload['alert_uuid']}/outcome", json={"outcome": "false_alarm"})
    assert answer.status_code == 200 and answer.json["claimed_by"] is None
    unknown = client.post(f"/alerts/{alert_payload()['alert_uuid']}/outcome", json={"outcome": "false_alarm"})
    assert unknown.status_code == 404


def test_what_the_page_shows_is_escaped_and_runs_no_inline_script(client, stub, anonymous):
    shop = make_location(display_name='<script>alert("shop")</script>')
    make_user(shop, level=Level.STANDARD, name="<img src=x onerror=alert(1)>")
    _, links = sent_alert(client, stub)
    link = path_of(next(iter(links.values())))
    note = {"outcome": "false_alarm", "note": "</p><script>alert('note')</script>"}
    assert anonymous.post(f"{link}/outcome", data=note).status_code == 303

    page = anonymous.get(f"{link}?notice=<script>alert('notice')</script>")
    text = page.get_data(as_text=True)
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#34;shop&#34;)" in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "&lt;script&gt;alert(&#39;notice&#39;)" in text
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy


def test_the_page_redirects_only_to_itself(shop_staff, client, stub, anonymous):
    camille, _, _ = shop_staff
    _, links = sent_alert(client, stub)
    link = path_of(links[camille.user_uuid])
    answers = [
        anonymous.post(f"{link}/claim?next=https://evil.example/", headers={"Host": "evil.example"}),
        anonymous.post(f"{link}/outcome?next=//evil.example", data={"outcome": "not_found"}),
        anonymous.post(f"{link}/claim", headers={"Referer": "https://evil.example/"}),
    ]
    for answer in answers:
        assert answer.status_code == 303
        target = urlsplit(answer.headers["Location"])
        assert (target.netloc, target.path) == ("", link) and "evil" not in target.query
    # Werkzeug merges a doubled slash with a redirect, on this host.
    merged = urlsplit(anonymous.get("/s//evil.example").headers["Location"])
    assert (merged.netloc, merged.path) == ("localhost", "/s/evil.example")


def test_a_wrong_outcome_form_shows_the_page_again_with_the_reason(shop_staff, client, stub, anonymous):
    camille, _, _ = shop_staff
    _, links = sent_alert(client, stub)
    answer = anonymous.post(f"{path_of(links[camille.user_uuid])}/outcome", data={"outcome": "burglary"})
    assert answer.status_code == 422
    assert "Outcome: choose what happened." in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("link", "status"),
    [("AAAA", 404), ("x" * 70, 404)],
)
def test_a_bad_link_gets_a_json_error_naming_the_link(anonymous, link, status):
    answer = anonymous.get(f"/s/{link}")
    assert answer.status_code == status
    assert answer.json["errors"] == {"link": ["This link is not valid."]}


def test_an_expired_link_is_gone(shop_staff, client, stub, anonymous, app):
    camille, _, _ = shop_staff
    payload, _ = sent_alert(client, stub)
    token = link_token(
        payload["alert_uuid"], camille.user_uuid, datetime.now(UTC) - timedelta(seconds=1), SECRET
    )
    answer = anonymous.post(f"/s/{token}/claim")
    assert answer.status_code == 410 and "link" in answer.json["errors"]


def test_a_link_for_a_shop_the_user_does_not_work_at_is_refused(shop_staff, client, stub, anonymous):
    _, _, zoe = shop_staff
    payload, _ = sent_alert(client, stub)
    token = link_token(payload["alert_uuid"], zoe.user_uuid, datetime.now(UTC) + timedelta(hours=1), SECRET)
    assert anonymous.post(f"/s/{token}/claim").status_code == 403
    assert Alert.query.filter_by(alert_uuid=payload["alert_uuid"]).one().claimed_by_id is None


# The API for staff apps.


def test_staff_apps_claim_with_the_users_own_token(app, shop_staff, client, stub):
    camille, hugo, zoe = shop_staff
    payload, _ = sent_alert(client, stub)
    url = f"/alerts/{payload['alert_uuid']}/claim"

    mine = user_client(app, camille).post(url)
    assert mine.status_code == 200 and mine.json["claimed_by"] == "Camille"
    assert user_client(app, camille).post(url).status_code == 200
    taken = user_client(app, hugo).post(url)
    assert taken.status_code == 409
    assert taken.json["errors"] == {"alert": ["Camille is already on it."]}
    assert user_client(app, zoe).post(url).status_code == 403
    assert client.post(url).status_code == 403  # an admin token is nobody's: it claims nothing
    assert app.test_client().post(url).status_code == 401
    assert user_client(app, camille).post(f"/alerts/{alert_payload()['alert_uuid']}/claim").status_code == 404


def test_staff_apps_record_the_outcome_and_bad_input_gets_a_json_422(app, shop_staff, client, stub):
    camille, _, _ = shop_staff
    payload, _ = sent_alert(client, stub)
    url = f"/alerts/{payload['alert_uuid']}/outcome"
    staff = user_client(app, camille)

    for body, field in [
        ({"outcome": "burglary"}, "outcome"),
        ({"outcome": "false_alarm", "value_recovered": -1}, "value_recovered"),
        ({"outcome": "false_alarm", "note": "x" * 501}, "note"),
        ({}, "outcome"),
    ]:
        answer = staff.post(url, json=body)
        assert answer.status_code == 422 and field in answer.json["errors"], (body, answer.json)
    assert Alert.query.filter_by(alert_uuid=payload["alert_uuid"]).one().outcome is None

    recorded = staff.post(url, json={"outcome": "FALSE_ALARM", "note": "a shadow"})
    assert recorded.status_code == 200
    assert (recorded.json["outcome"], recorded.json["note"], recorded.json["outcome_by"]) == (
        "false_alarm",
        "a shadow",
        "Camille",
    )
    assert recorded.json["claimed_by"] == "Camille"


@pytest.mark.parametrize("setting", ["PUBLIC_URL", "SECRET_KEY"])
def test_without_a_public_url_or_a_key_messages_go_out_without_the_action_link(
    setting, app, shop_staff, client, stub
):
    app.config[setting] = ""
    payload, links = sent_alert(client, stub)
    assert len(links) == 2 and set(links.values()) == {None}
    assert {message["url"] for message in stub.messages(payload["alert_uuid"])["messages"]} == {
        payload["url"]
    }


# What the loop tells the people who run the shops: /stats and /metrics.


def claim_after(alert: Alert, user, seconds: float) -> None:
    """Claim the alert as if `seconds` had passed since its receipt."""
    claim(alert, user, now=alert.received_at + timedelta(seconds=seconds))


def test_stats_show_time_to_claim_unclaimed_critical_alerts_and_false_alarms_per_shop_and_label(
    shop_staff, client, stub
):
    camille, hugo, _ = shop_staff
    alerts = []
    for label in ("theft", "theft", "theft", "suspicious"):
        payload = alert_payload(label=label)
        assert client.post("/webhooks/alerts", json=payload).status_code == 201
        alerts.append(Alert.query.filter_by(alert_uuid=payload["alert_uuid"]).one())
    claim_after(alerts[0], camille, 20)
    claim_after(alerts[1], hugo, 40)
    record_outcome(alerts[0], camille, outcome=Outcome.FALSE_ALARM)
    record_outcome(alerts[1], hugo, outcome=Outcome.THEFT_STOPPED, value_recovered=12.5)
    record_outcome(alerts[3], hugo, outcome=Outcome.FALSE_ALARM)  # claims it too

    stats = client.get("/stats").json
    theft = stats["locations"]["fr-auchan-larochelle"]["response_by_label"]["theft"]
    assert (theft["alerts"], theft["claimed"], theft["unclaimed_critical"]) == (3, 2, 1)
    assert (theft["time_to_claim"]["count"], theft["time_to_claim"]["p50"]) == (2, 20.0)
    assert theft["time_to_claim"]["p95"] == 40.0
    assert theft["false_alarm_rate"] == 0.5
    assert theft["outcomes"] == {"theft_stopped": 1, "theft_not_stopped": 0, "false_alarm": 1, "not_found": 0}
    suspicious = stats["response_by_label"]["suspicious"]
    assert (suspicious["claimed"], suspicious["unclaimed_critical"], suspicious["false_alarm_rate"]) == (
        1,
        0,
        1.0,
    )
    assert (stats["response"]["alerts"], stats["response"]["claimed"]) == (4, 3)


def test_metrics_count_claims_outcomes_and_the_critical_alerts_nobody_claimed(app, shop_staff, client, stub):
    camille, _, _ = shop_staff
    before = scrape(client)
    payloads = [alert_payload(label="theft") for _ in range(2)]
    for payload in payloads:
        assert client.post("/webhooks/alerts", json=payload).status_code == 201
    first, second = (Alert.query.filter_by(alert_uuid=p["alert_uuid"]).one() for p in payloads)
    app.config["UNCLAIMED_AFTER"] = 0  # counted as unclaimed at once
    assert value(scrape(client), "nootification_critical_alerts_unclaimed") == 2

    claim_after(first, camille, 25)
    record_outcome(first, camille, outcome=Outcome.FALSE_ALARM)
    after = scrape(client)
    assert value(after, "nootification_critical_alerts_unclaimed") == 1
    labels = {"label": "theft", "severity": "critical"}
    assert delta(before, after, "nootification_claim_seconds_count", **labels) == 1
    assert delta(before, after, "nootification_claim_seconds_bucket", le="30.0", **labels) == 1
    assert delta(before, after, "nootification_claim_seconds_bucket", le="20.0", **labels) == 0
    outcome = {"label": "theft", "outcome": "false_alarm"}
    assert delta(before, after, "nootification_alert_outcomes_total", **outcome) == 1
    assert second.claimed_by_id is None


def test_without_a_secret_key_no_link_is_accepted_even_one_signed_with_an_empty_key(
    app, shop_staff, client, stub, anonymous
):
    camille, _, _ = shop_staff
    payload, _ = sent_alert(client, stub)
    app.config["SECRET_KEY"] = None
    forged = link_token(payload["alert_uuid"], camille.user_uuid, datetime.now(UTC) + timedelta(hours=1), "")
    answer = anonymous.post(f"/s/{forged}/claim")
    assert answer.status_code == 404 and answer.json["errors"] == {"link": ["This link is not valid."]}
