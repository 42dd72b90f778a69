"""Everything a French shop's staff read is French, and an English shop's English: each page (the staff page
in its states, the gone page, the installed app's page and manifest) and each message (the alert on every
channel, the claim follow-ups, the device notice, the SMS answers and help), rendered for real, holds none of
the other language's texts of the catalog and none of its common words."""

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from nootification.delivery.messages import addressed
from nootification.extensions import db
from nootification.i18n import TRANSLATIONS, language
from nootification.models import Alert, Level, SmsReply, User, utcnow
from nootification.senders import channels_that
from nootification.senders.email import html_part
from nootification.senders.slack import SlackSender
from nootification.senders.teams import TeamsSender
from nootification.senders.telegram import TelegramSender
from nootification.senders.twilio.twiml import ask, say_and_hang_up, words_for
from nootification.services.contacts import Contact
from nootification.services.staff_links import link_token
from nootification.services.templates import render_for
from nootification.staff.claim_notices import notice_text
from nootification.staff.device_notices import notice_for
from nootification.staff.sms_replies import ANSWERS, answer_text
from tests.helpers.factories import admin_client, alert_payload, make_location, make_user
from tests.helpers.processes import drain_queue
from tests.helpers.staff import LINK, path_of

SHOP = "Auchan La Rochelle"
NAMES = ("Camille", "Hugo", SHOP)
URL = re.compile(r"https?://\S+")
CATALOG = read_po((TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po").open("rb"))
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\{.*?\}\}")
# Common words of each language that the other's texts never hold.
COMMON = {
    "en": ("the", "you", "your", "is", "are", "at", "and", "of", "to", "what", "who", "nobody", "someone",
           "alert", "alerts", "phone", "thank", "reply", "spotted", "recorded", "happened", "link", "open"),
    "fr": ("le", "la", "les", "vous", "votre", "vos", "est", "une", "des", "du", "qui", "personne", "alerte",
           "alertes", "téléphone", "merci", "répondez", "repéré", "noté", "lien", "ouvrir", "déjà", "à"),
}  # fmt: skip


def fragments(text: str) -> set[str]:
    """The literal pieces of a catalog text, without its placeholders and edge punctuation."""
    pieces = (piece.strip(" .,:;!?()\"'") for piece in PLACEHOLDER.split(text))
    return {piece for piece in pieces if len(piece) >= 3}


def texts_of(lang: str) -> set[str]:
    """Every piece of the catalog in a language (English: the ids) that the other language words apart."""
    pairs = [(message.id, message.string) for message in CATALOG if message.id and message.string]
    chosen = [english if lang == "en" else french for english, french in pairs if english != french]
    other = {piece for english, french in pairs for piece in fragments(french if lang == "en" else english)}
    return {piece for text in chosen for piece in fragments(text)} - other


def left_in(text: str, other: str) -> list[str]:
    """The texts and common words of the language `other` found in `text` (links and names left out)."""
    text = URL.sub(" ", text)
    for name in NAMES:
        text = text.replace(name, " ")
    found = [piece for piece in texts_of(other) if re.search(rf"(?<!\w){re.escape(piece)}(?!\w)", text)]
    found += [word for word in COMMON[other] if re.search(rf"(?<!\w){word}(?!\w)", text, re.IGNORECASE)]
    return found


class VisibleText(HTMLParser):
    """The text a person sees on a page: its data outside scripts and styles, its title included."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0
        self.script_texts: dict = {}
        self.lang = ""

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.lang = dict(attrs).get("lang", "")
        if tag in ("script", "style"):
            self.hidden += 1
            self.in_texts = dict(attrs).get("id") == "texts"

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)
        elif getattr(self, "in_texts", False) and data.strip():
            self.script_texts = json.loads(data)


def flat(value) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in flat(item)]
    if isinstance(value, list):
        return [text for item in value for text in flat(item)]
    return [value] if isinstance(value, str) else []


def page_texts(answer, lang: str) -> list[str]:
    """What a page shows and its script may write; its `lang` must be the page's language."""
    parser = VisibleText()
    parser.feed(answer.get_data(as_text=True))
    assert parser.lang == lang
    return ["\n".join(parser.parts), *flat(parser.script_texts)]


@pytest.fixture(params=["fr-FR", "en"])
def shop_locale(request) -> str:
    return request.param


@pytest.fixture
def staff(channels_app, smtp_server, shop_locale):
    """A shop in `shop_locale` whose two members of staff (no language of their own) get its theft alerts by
    SMS and email, with follow-ups once someone is on it; one alert sent; each one's staff link."""
    channels_app.config["PUBLIC_URL"] = "https://alertes.example.fr"
    client = admin_client(channels_app)
    shop = make_location(display_name=SHOP, timezone="Europe/Paris", locale=shop_locale, claim_follow_up=True)
    people = {}
    for name, phone in (("Camille", "+33612345678"), ("Hugo", "+33698765432")):
        user = make_user(shop, level=Level.STANDARD, name=name)
        people[name] = user.user_uuid
        for channel, address in (("sms", phone), ("email", f"{name.lower()}@example.com")):
            put = client.put(f"/users/{user.user_uuid}/contact-points/{channel}", json={"address": address})
            assert put.status_code == 200
    assert client.post("/routes", json={"label": "theft", "channels": ["sms", "email"]}).status_code == 201
    payload = alert_payload(label="theft")
    assert client.post("/webhooks/alerts", json=payload).status_code == 201
    drain_queue()
    sms = {m["address"]: m["text"] for m in smtp_server.messages(channel="sms")["messages"]}
    links = {"Camille": sms["+33612345678"], "Hugo": sms["+33698765432"]}
    links = {name: path_of(LINK.search(text).group()) for name, text in links.items()}
    return people, links, payload


def sent_texts(stub) -> list[str]:
    """Every SMS and email the stub got: texts, subjects and HTML parts."""
    texts = [message["text"] for message in stub.messages(channel="sms")["messages"]]
    for mail in stub.messages(channel="email")["messages"]:
        texts += [mail["text"], mail["payload"]["subject"], mail["payload"]["html"]]
    return texts


def test_everything_the_staff_read_is_in_their_shops_language(channels_app, smtp_server, staff, shop_locale):
    people, links, payload = staff
    lang, other = language(shop_locale), "en" if language(shop_locale) == "fr" else "fr"
    anonymous = channels_app.test_client()
    texts = sent_texts(smtp_server)  # the alert by SMS and email
    assert len(texts) == 2 + 2 * 3

    texts += page_texts(anonymous.get(links["Camille"]), lang)  # nobody on it yet
    wrong = anonymous.post(
        f"{links['Camille']}/outcome", data={"outcome": "burglary", "value_recovered": "x"}
    )
    assert wrong.status_code == 422
    texts += page_texts(wrong, lang)
    assert anonymous.post(f"{links['Hugo']}/claim").status_code == 303
    taken = anonymous.post(f"{links['Camille']}/claim")  # Hugo was first
    texts += page_texts(anonymous.get(taken.headers["Location"]), lang)
    texts += page_texts(anonymous.get(links["Hugo"]), lang)  # Hugo's own
    done = anonymous.post(
        f"{links['Hugo']}/outcome", data={"outcome": "theft_stopped", "value_recovered": "40"}
    )
    texts += page_texts(anonymous.get(done.headers["Location"]), lang)
    conflict = anonymous.post(
        f"{links['Camille']}/outcome", data={"outcome": "false_alarm"}, headers={"Accept": "text/html"}
    )
    assert conflict.status_code == 409
    texts += page_texts(conflict, lang)
    drain_queue()
    texts += sent_texts(smtp_server)[8:]  # the follow-ups to Camille once Hugo is on it
    assert len(texts) > 8 + 5 + 2

    manifest = anonymous.get(f"{links['Camille']}/manifest.webmanifest").get_json()
    assert manifest["lang"] == lang
    texts += [manifest["name"], manifest["short_name"], manifest["description"]]
    texts += page_texts(anonymous.get(manifest["start_url"]), lang)  # the installed app's page
    expired = link_token(payload["alert_uuid"], people["Camille"], utcnow() - timedelta(hours=1), "x")
    channels_app.config["SECRET_KEY"] = "x"
    gone = anonymous.get(f"/s/{expired}", headers={"Accept-Language": f"{lang};q=0.9"})
    assert gone.status_code == 410
    texts += page_texts(gone, lang)

    alert = db.session.scalar(sa.select(Alert))
    camille = db.session.scalar(sa.select(User).where(User.user_uuid == people["Camille"]))
    for channel in channels_that("reaches_staff"):  # each channel's shipped template
        rendered = render_for(alert, camille, channel)
        texts += [rendered.subject, rendered.body]
    contact = Contact(channel="slack", address="C0123", level=Level.STANDARD)
    message = addressed(
        "d-1",
        alert,
        camille.user_uuid,
        contact,
        subject="",
        body="",
        action_url="https://x/s/t",
        locale=shop_locale,
    )
    texts += flat(SlackSender.payload(message)) + flat(TelegramSender.payload(message, "1"))
    texts += flat(TeamsSender.payload(message)) + [html_part(message)]
    texts += list(notice_for(camille))
    for result in (*ANSWERS, "help"):
        texts.append(answer_text(SmsReply(result=result, alert=alert), camille))
    # What a call says: the alert and its prompt, once more, and every answer to a key.
    spoken = render_for(alert, camille, "voice").body
    for twiml in (
        ask(spoken, "https://x/webhooks/twilio/voice?delivery=d-1", shop_locale),
        ask(spoken, "https://x/webhooks/twilio/voice?delivery=d-1", shop_locale, repeat=True),
        *(say_and_hang_up(said, shop_locale) for said in words_for(shop_locale).values()),
    ):
        texts += [say.text for say in ElementTree.fromstring(twiml).iter("Say")]

    left = {text: left_in(text, other) for text in texts if left_in(text, other)}
    assert left == {}
    # The texts are of the right language, not merely free of the other one.
    assert [text for text in texts if len(URL.sub("", text)) > 40 and not left_in(text, lang)] == []
    script = Path(channels_app.static_folder, "staff.js").read_text()
    assert not [piece for piece in texts_of("en") if len(piece) > 8 and f'"{piece}' in script]


def test_a_nameless_colleague_is_named_in_the_readers_language(db):
    shop = make_location(display_name=SHOP, locale="fr-FR")
    nameless = make_user(shop)
    alert = Alert(
        alert_uuid="a-1", url="https://m.example.com/v.mp4", label="theft", location=shop, claimed_by=nameless
    )
    assert notice_text(alert, "fr-FR") == f"Un collègue s'en occupe : vol à {SHOP}."
    reply = SmsReply(result="taken", alert=alert)
    assert answer_text(reply, make_user(shop, name="Hugo")) == f"Un collègue y va déjà : {SHOP}."
    assert notice_text(alert, "en") == f"A colleague is on it: theft at {SHOP}."
