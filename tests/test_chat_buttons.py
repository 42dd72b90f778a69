"""Chat buttons that call back: "I'm on it" pressed in Telegram or Slack (by the stub) claims the alert."""

import pytest
import requests
import sqlalchemy as sa

from nootification.extensions import db
from nootification.models import Alert, Level
from nootification.services import directory
from nootification.staff.claims import claim
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.processes import drain_queue

TELEGRAM_SECRET = "telegram-webhook-secret-42"
SLACK_SECRET = "slack-signing-secret-42"
CHATS = {"Camille": "-1001234567890", "Hugo": "-1009876543210"}
CHANNELS = {"Camille": "C0CAMILLE01", "Hugo": "C0HUGO0001"}


def sent(
    channels_app,
    smtp_server,
    serve_app,
    chats: dict = CHATS,
    options: dict | None = None,
    shop_locale: str = "en",
) -> tuple[str, dict, dict]:
    """Serve the API with both secrets; send a theft alert of a shop in `shop_locale` to Camille and Hugo on
    Telegram and Slack (in `chats`, with each one's contact point `options` by channel)."""
    options = options or {}
    channels_app.config.update(TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET, SLACK_SIGNING_SECRET=SLACK_SECRET)
    url = serve_app(channels_app)
    channels_app.config["PUBLIC_URL"] = url
    client = admin_client(channels_app)
    shop = make_location(locale=shop_locale)
    for name in chats:
        user = make_user(shop, level=Level.STANDARD, name=name)
        for channel, address in (("telegram", chats[name]), ("slack", CHANNELS[name])):
            point = {"address": address, "options": options.get(channel, {}).get(name, {})}
            assert (
                client.put(f"/users/{user.user_uuid}/contact-points/{channel}", json=point).status_code == 200
            )
    payload = alert_payload(label="theft")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    messages = smtp_server.messages()["messages"]
    telegram = {m["address"]: m["payload"] for m in messages if m.get("channel") == "telegram"}
    slack = {m["address"]: m["payload"] for m in messages if m.get("channel") == "slack"}
    return url, telegram, slack


def press_telegram(
    stub_url: str, url: str, chat: str, callback_data: str, secret: str = TELEGRAM_SECRET, from_id: int = 1
):
    body = {
        "url": f"{url}/telegram/webhook",
        "secret_token": secret,
        "chat_id": chat,
        "callback_data": callback_data,
        "from_id": from_id,
    }
    return requests.post(f"{stub_url}/press/telegram", json=body, timeout=15)


def press_slack(
    stub_url: str, url: str, channel: str, value: str, secret: str = SLACK_SECRET, user_id: str = "U0STAFF"
):
    body = {
        "url": f"{url}/slack/interactions",
        "signing_secret": secret,
        "channel": channel,
        "action_id": "claim",
        "value": value,
        "user_id": user_id,
    }
    return requests.post(f"{stub_url}/press/slack", json=body, timeout=15)


def claimer() -> str | None:
    db.session.expire_all()
    alert = db.session.query(Alert).one()
    return alert.claimed_by.name if alert.claimed_by else None


def test_im_on_it_pressed_in_telegram_claims_and_the_second_press_is_told_who(
    channels_app, smtp_server, serve_app
):
    url, telegram, _ = sent(channels_app, smtp_server, serve_app)
    camille = telegram[CHATS["Camille"]]["reply_markup"]["inline_keyboard"][0]
    hugo = telegram[CHATS["Hugo"]]["reply_markup"]["inline_keyboard"][0]
    assert [button["text"] for button in camille] == ["I'm on it", "Open"]
    assert camille[1]["url"].startswith(f"{url}/s/")

    answer = press_telegram(smtp_server.url, url, CHATS["Camille"], camille[0]["callback_data"])
    assert answer.status_code == 200
    assert answer.json()["method"] == "answerCallbackQuery" and answer.json()["text"] == "You are on it."
    assert claimer() == "Camille"
    again = press_telegram(smtp_server.url, url, CHATS["Hugo"], hugo[0]["callback_data"])
    assert again.json()["text"] == "Camille is already on it."


def test_a_french_shops_staff_press_french_buttons_and_are_answered_in_french(
    channels_app, smtp_server, serve_app
):
    url, telegram, slack = sent(channels_app, smtp_server, serve_app, shop_locale="fr-FR")
    camille = telegram[CHATS["Camille"]]["reply_markup"]["inline_keyboard"][0]
    hugo = telegram[CHATS["Hugo"]]["reply_markup"]["inline_keyboard"][0]
    assert [button["text"] for button in camille] == ["J'y vais", "Ouvrir"]
    slack_buttons = [
        element["text"]["text"] for element in slack[CHANNELS["Camille"]]["blocks"][-1]["elements"]
    ]
    assert slack_buttons == ["Voir la vidéo", "J'y vais", "Ouvrir"]

    answer = press_telegram(smtp_server.url, url, CHATS["Camille"], camille[0]["callback_data"])
    assert answer.json()["text"] == "Vous vous en occupez."
    assert press_telegram(smtp_server.url, url, CHATS["Hugo"], hugo[0]["callback_data"]).json()["text"] == (
        "Camille s'en occupe déjà."
    )
    drain_queue()
    edits = requests.get(f"{smtp_server.url}/edits", timeout=5).json()["edits"]
    assert {edit["text"] for edit in edits} == {"Camille s'en occupe : vol à fr-auchan-larochelle."}


def test_a_telegram_press_with_a_wrong_secret_or_from_another_chat_claims_nothing(
    channels_app, smtp_server, serve_app
):
    url, telegram, _ = sent(channels_app, smtp_server, serve_app)
    data = telegram[CHATS["Camille"]]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert press_telegram(smtp_server.url, url, CHATS["Camille"], data, secret="guess").status_code == 401
    other_chat = press_telegram(smtp_server.url, url, CHATS["Hugo"], data)
    assert other_chat.json()["text"] == "This button belongs to another chat."
    unknown = press_telegram(smtp_server.url, url, CHATS["Camille"], "claim:not-a-delivery")
    assert unknown.json()["text"] == "This alert is no longer known."
    assert claimer() is None


def test_im_on_it_pressed_in_slack_claims_through_a_signed_interaction(channels_app, smtp_server, serve_app):
    url, _, slack = sent(channels_app, smtp_server, serve_app)
    buttons = slack[CHANNELS["Hugo"]]["blocks"][-1]["elements"]
    claim_button = next(button for button in buttons if button["action_id"] == "claim")

    assert (
        press_slack(smtp_server.url, url, CHANNELS["Hugo"], claim_button["value"], secret="x").status_code
        == 401
    )
    assert claimer() is None
    answer = press_slack(smtp_server.url, url, CHANNELS["Hugo"], claim_button["value"])
    assert answer.status_code == 200
    assert answer.json() == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": "You are on it.",
    }
    assert claimer() == "Hugo"


def test_in_a_telegram_group_only_the_recipient_may_press_their_button(channels_app, smtp_server, serve_app):
    options = {"telegram": {"Camille": {"user_id": 4242}}}
    url, telegram, _ = sent(channels_app, smtp_server, serve_app, options=options)
    data = telegram[CHATS["Camille"]]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    someone = press_telegram(smtp_server.url, url, CHATS["Camille"], data, from_id=999)
    assert someone.json()["method"] == "answerCallbackQuery"
    assert someone.json()["text"] == "Sorry, this button is for Camille: nothing was recorded."
    assert claimer() is None
    assert press_telegram(smtp_server.url, url, CHATS["Camille"], data, from_id=4242).json()["text"] == (
        "You are on it."
    )
    assert claimer() == "Camille"


def test_in_a_telegram_private_chat_the_chat_id_is_the_recipients(channels_app, smtp_server, serve_app):
    chats = {"Camille": "4242", "Hugo": "4343"}
    url, telegram, _ = sent(channels_app, smtp_server, serve_app, chats=chats)
    data = telegram["4242"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    refused = press_telegram(smtp_server.url, url, "4242", data, from_id=4343)
    assert refused.json()["text"] == "Sorry, this button is for Camille: nothing was recorded."
    assert claimer() is None
    assert press_telegram(smtp_server.url, url, "4242", data, from_id=4242).json()["text"] == "You are on it."
    assert claimer() == "Camille"


def test_in_a_shared_slack_channel_only_the_recipient_may_press_their_button(
    channels_app, smtp_server, serve_app
):
    url, _, slack = sent(
        channels_app, smtp_server, serve_app, options={"slack": {"Hugo": {"user_id": "U0HUGO0001"}}}
    )
    buttons = slack[CHANNELS["Hugo"]]["blocks"][-1]["elements"]
    value = next(button for button in buttons if button["action_id"] == "claim")["value"]

    someone = press_slack(smtp_server.url, url, CHANNELS["Hugo"], value, user_id="U0CAMILLE01")
    assert someone.status_code == 200
    assert someone.json() == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": "Sorry, this button is for Hugo: nothing was recorded.",
    }
    assert claimer() is None
    assert press_slack(smtp_server.url, url, CHANNELS["Hugo"], value, user_id="U0HUGO0001").json()[
        "text"
    ] == ("You are on it.")
    assert claimer() == "Hugo"


@pytest.mark.parametrize(
    ("channel", "address", "user_id"),
    [("slack", "C0CAMILLE01", "camille"), ("slack", "C0CAMILLE01", 42), ("telegram", "-100123", 0)],
)
def test_a_chat_user_id_that_is_not_one_is_refused(client, channel, address, user_id):
    user = make_user(make_location())
    point = {"address": address, "options": {"user_id": user_id}}
    answer = client.put(f"/users/{user.user_uuid}/contact-points/{channel}", json=point)
    assert answer.status_code == 422 and "user_id" in answer.json["errors"]


def test_without_their_secrets_the_callbacks_are_off(channels_app, smtp_server, serve_app):
    url, telegram, _ = sent(channels_app, smtp_server, serve_app)
    channels_app.config.update(TELEGRAM_WEBHOOK_SECRET=None, SLACK_SIGNING_SECRET=None)
    data = telegram[CHATS["Camille"]]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert press_telegram(smtp_server.url, url, CHATS["Camille"], data).status_code == 503
    assert press_slack(smtp_server.url, url, CHANNELS["Camille"], "x").status_code == 503
    assert claimer() is None


def test_once_someone_is_on_it_the_others_slack_and_telegram_messages_say_who(
    channels_app, smtp_server, serve_app
):
    url, telegram, _ = sent(channels_app, smtp_server, serve_app)
    data = telegram[CHATS["Camille"]]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert press_telegram(smtp_server.url, url, CHATS["Camille"], data).json()["text"] == "You are on it."
    drain_queue()

    edits = requests.get(f"{smtp_server.url}/edits", timeout=5).json()["edits"]
    edited = sorted((edit["channel"], edit["ref"].rpartition(":")[0]) for edit in edits)
    assert edited == [("slack", CHANNELS["Hugo"]), ("telegram", CHATS["Hugo"])]
    assert {edit["text"] for edit in edits} == {"Camille is on it: theft at fr-auchan-larochelle."}
    refs = db.session.execute(sa.text("SELECT provider_ref FROM delivery_attempts WHERE outcome = 'sent'"))
    assert len([ref for (ref,) in refs if ref]) == 4  # Slack and Telegram, for each of the two


@pytest.mark.parametrize("follow_up", [True, False])
def test_where_the_shop_chose_it_the_others_sms_get_a_follow_up(channels_app, smtp_server, follow_up):
    client = admin_client(channels_app)
    assert client.post("/locations", json={"name": "shop", "claim_follow_up": follow_up}).status_code == 201
    shop = directory.get_location("shop")
    phones = {"Camille": "+33612345678", "Hugo": "+33698765432"}
    users = {}
    for name, phone in phones.items():
        users[name] = make_user(shop, level=Level.STANDARD, name=name)
        client.put(f"/users/{users[name].user_uuid}/contact-points/sms", json={"address": phone})
    payload = alert_payload("shop", label="theft")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    claim(db.session.query(Alert).one(), users["Camille"])
    drain_queue()

    texts = [(m["address"], m["text"]) for m in smtp_server.messages(channel="sms")["messages"]]
    notice = "On it: Camille\nCamille is on it: theft at shop."
    follow_ups = [address for address, text in texts if text.startswith(notice)]
    assert follow_ups == ([phones["Hugo"]] if follow_up else [])


@pytest.mark.parametrize(
    "pressed",
    [
        {"id": "1", "data": "claim:x", "from": "someone", "message": "text"},
        {"id": "1", "data": "claim:x", "from": [1], "message": {"chat": 5}},
    ],
)
def test_a_telegram_update_of_the_wrong_shape_is_answered_not_a_500(app, anonymous, pressed):
    app.config["TELEGRAM_WEBHOOK_SECRET"] = TELEGRAM_SECRET
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    answer = anonymous.post("/telegram/webhook", json={"callback_query": pressed}, headers=headers)
    assert answer.status_code == 200 and answer.json["text"] == "This alert is no longer known."
