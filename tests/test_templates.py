"""Templates: rendering, the sandbox, locale fallback, checks at save time, failures at send time."""

import pytest

from nootification.models import Alert, DeliveryStatus, Level, Location, Severity, User
from nootification.services.templates import (
    TemplateRenderError,
    find_template,
    render_for,
    render_text,
    sample_context,
)
from tests.helpers.factories import alert_payload, make_location, make_user, stored_delivery


def new_template(client, **fields):
    body = {"label": "theft", "channel": "*", "locale": "en", "subject": "S", "body": "B", **fields}
    return client.post("/templates", json=body)


def alert_at(timezone: str) -> Alert:
    from datetime import UTC, datetime

    location = Location(name="fr-x", display_name="Shop X", timezone=timezone)
    return Alert(
        alert_uuid="a-1",
        url="https://m.example.com/v.mp4",
        label="theft",
        severity=Severity.CRITICAL,
        location=location,
        time_spotted=datetime(2026, 7, 1, 10, 5, tzinfo=UTC),
    )


def test_shipped_default_uses_shop_local_time(db):
    rendered = render_for(alert_at("Europe/Paris"), User(name="Camille", locale="en"), "sms")
    assert rendered.subject == "Theft at Shop X"
    assert rendered.body == "Theft spotted at Shop X at 12:05 (critical)."  # each sender adds the link
    assert "07:05" in render_for(alert_at("America/Sao_Paulo"), User(name="C", locale="en"), "sms").body


def test_french_default_and_unknown_locale_falls_back_to_english(db):
    assert render_for(alert_at("UTC"), User(locale="fr"), "sms").subject == "Vol à Shop X"
    assert render_for(alert_at("UTC"), User(locale="de"), "sms").subject == "Theft at Shop X"


def test_most_specific_stored_template_wins(client, db):
    new_template(client, label="*", channel="*", body="generic")
    new_template(client, label="theft", channel="*", body="theft any channel")
    new_template(client, label="theft", channel="sms", body="theft sms")
    new_template(client, label="theft", channel="sms", locale="fr", body="vol sms")
    assert find_template("theft", "sms", "en")[1] == "theft sms"
    assert find_template("theft", "email", "en")[1] == "theft any channel"
    assert find_template("normal", "email", "en")[1] == "generic"
    assert find_template("theft", "sms", "fr")[1] == "vol sms"
    assert find_template("theft", "email", "fr")[1] == "theft any channel"  # locale falls back first


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ url.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% for x in range(10**9) %}{% endfor %}",
        "{{ label * 1000000 }}",
        "{{ [1, 2] * 100000 }}",
        "{{ 10 ** 100000000 }}",
    ],
)
def test_sandbox_escapes_are_refused(source):
    with pytest.raises(TemplateRenderError):
        render_text("s", source, sample_context())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"body": "{{ url "}, "body"),
        ({"subject": "{% if %}"}, "subject"),
        ({"body": "{{ no_such_variable }}"}, "body"),
        ({"body": "{{ ''.__class__.__mro__ }}"}, "body"),
    ],
)
def test_a_template_that_does_not_render_is_refused_at_save(client, db, fields, field):
    response = new_template(client, **fields)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert client.get("/templates").json == []


def test_template_lifecycle_and_preview(client, db):
    created = new_template(
        client, subject="{{ label|upper }}", body="{{ location_name }} {{ local_time }}"
    ).json
    assert client.get(f"/templates/{created['id']}").json["body"] == "{{ location_name }} {{ local_time }}"
    preview = client.post(f"/templates/{created['id']}/render", json={})
    assert preview.json == {"subject": "THEFT", "body": "Auchan La Rochelle 12:31"}
    assert new_template(client).status_code == 409
    assert client.patch(f"/templates/{created['id']}", json={"body": "{{ oops"}).status_code == 422
    assert client.patch(f"/templates/{created['id']}", json={"body": "ok"}).json["body"] == "ok"
    assert client.delete(f"/templates/{created['id']}").status_code == 204
    assert client.get(f"/templates/{created['id']}").status_code == 404


def test_preview_with_a_stored_alert(client, db):
    make_location(display_name="Auchan La Rochelle", timezone="Europe/Paris")
    payload = alert_payload(time_spotted=1742470260.0)
    client.post("/webhooks/alerts", json=payload)
    template = new_template(client, body="{{ alert_uuid }} {{ local_datetime }}").json
    rendered = client.post(
        f"/templates/{template['id']}/render", json={"alert_uuid": payload["alert_uuid"]}
    ).json
    assert rendered["body"] == f"{payload['alert_uuid']} 2025-03-20 12:31 CET"
    missing = client.post(
        f"/templates/{template['id']}/render", json={"alert_uuid": "33cbb18c-3e9d-4acc-9667-2fbe7bf29137"}
    )
    assert missing.status_code == 404


def test_a_template_failing_at_send_time_gives_way_to_the_built_in_one(
    client, queued_delivery, stub, run_worker, caplog
):
    from nootification.extensions import db as database
    from nootification.models import Template

    # Saved templates are checked, so only a template changed behind the API's back fails on every alert.
    database.session.add(Template(label="theft", channel="*", locale="en", subject="", body="{{ 1 / 0 }}"))
    database.session.commit()
    run_worker()
    assert stored_delivery().status is DeliveryStatus.SENT
    assert stub.messages(queued_delivery)["count"] == 1
    assert "ZeroDivisionError" in caplog.text
    assert "the built-in one is used" in caplog.text


def test_user_name_is_available(client, db):
    shop = make_location()
    user = make_user(shop, level=Level.STANDARD, name="Camille")
    new_template(client, body="Hi {{ user_name }}")
    alert = client.post("/webhooks/alerts", json=alert_payload()).json
    from nootification.services.alerts import get_alert

    assert render_for(get_alert(alert["alert_uuid"]), user, "push").body == "Hi Camille"


def test_workers_read_templates_at_most_once_per_cache_period(app, client, db):
    from nootification.extensions import db as database
    from nootification.models import Template
    from nootification.services.templates import cache

    app.config["TEMPLATE_CACHE_SECONDS"] = 60
    cache.forget()
    created = new_template(client, body="first").json
    assert find_template("theft", "sms", "en")[1] == "first"  # a change through the API is seen at once
    stored = database.session.get(Template, created["id"])
    stored.body = "changed elsewhere"  # as another process would
    database.session.commit()
    assert find_template("theft", "sms", "en")[1] == "first"  # served from the cache
    cache.forget()
    assert find_template("theft", "sms", "en")[1] == "changed elsewhere"
