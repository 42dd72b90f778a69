"""How an alert SMS tells staff to answer it: in French for French staff, in English otherwise."""

# Worded with GSM-7 letters only, so that the line never turns the SMS into UCS-2.
ANSWER_LINES = {
    "en": "Reply 1 if you are going",
    "fr": "Répondez 1 si vous y allez",
}


def language(locale: str) -> str:
    """The language of a user's locale (`fr-FR` -> `fr`), as staff/device_notices.py reads it."""
    return locale.replace("_", "-").split("-")[0].lower()


def answer_line_for(locale: str) -> str:
    """The last line of an alert SMS: how to answer it, in the language of `locale`."""
    return ANSWER_LINES.get(language(locale), ANSWER_LINES["en"])
