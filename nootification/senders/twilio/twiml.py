"""TwiML of an alert call: what Twilio says, in the person's language, and the key it waits for.

Built with the standard library's ElementTree, which escapes every text and attribute: a shop's name or a
label may hold `<` or `&`.
"""

from urllib.parse import urlencode
from xml.etree import ElementTree

from nootification.i18n import language, translations
from nootification.i18n import mark as _

GATHER_PATH = "/webhooks/twilio/voice"
CLAIM_KEY = "1"
# Seconds Twilio waits for a key once it has spoken; then it posts an empty result (actionOnEmptyResult).
GATHER_TIMEOUT = 8
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
VOICES = {"en": "en-US", "fr": "fr-FR"}
# What a call says around the alert, in the person's language (the message catalog).
WORDS = {
    "press": _("Press 1 if you are going."),
    "again": _("Once more."),
    "goodbye": _("Goodbye."),
    "claimed": _("Noted, you are on it."),
    "yours": _("You are already on it."),
    "taken": _("%(holder)s is already on it."),
    "closed": _("This alert is closed."),
}


def words_for(locale: str) -> dict[str, str]:
    """What a call says around the alert, in the language of `locale` (English when there is none for it);
    `taken` keeps its `%(holder)s` to fill."""
    return {name: translations(locale).gettext(text) for name, text in WORDS.items()}


def gather_url(public_url: str, delivery_id: str, *, repeat: bool = False) -> str:
    """Where Twilio posts the key pressed during the call of a delivery (signed, so the id is Twilio's)."""
    query = {"delivery": delivery_id, **({"repeat": "1"} if repeat else {})}
    return public_url.rstrip("/") + GATHER_PATH + "?" + urlencode(query)


def ask(text: str, action: str, locale: str, *, repeat: bool = False) -> str:
    """Say the alert and wait for one key, posted to `action` (silence too); if Twilio gets nothing to do
    after it, goodbye."""
    words = words_for(locale)
    response = ElementTree.Element("Response")
    gather = ElementTree.SubElement(
        response,
        "Gather",
        numDigits="1",
        action=action,
        method="POST",
        timeout=str(GATHER_TIMEOUT),
        actionOnEmptyResult="true",
    )
    spoken = f"{words['again']} {text}" if repeat else text
    _say(gather, f"{spoken} {words['press']}", locale)
    _say(response, words["goodbye"], locale)
    return _document(response)


def say_and_hang_up(text: str, locale: str) -> str:
    """Say `text`, then goodbye, and hang up."""
    response = ElementTree.Element("Response")
    _say(response, f"{text} {words_for(locale)['goodbye']}".strip(), locale)
    ElementTree.SubElement(response, "Hangup")
    return _document(response)


def _say(parent: ElementTree.Element, text: str, locale: str) -> None:
    say = ElementTree.SubElement(parent, "Say", language=VOICES.get(language(locale), VOICES["en"]))
    say.text = text


def _document(response: ElementTree.Element) -> str:
    return DECLARATION + ElementTree.tostring(response, encoding="unicode")
