"""How an alert SMS tells staff to answer it, in their language (the message catalog)."""

from nootification.i18n import mark as _
from nootification.i18n import translate

# Worded with GSM-7 letters only in every language, so that the line never turns the SMS into UCS-2.
ANSWER_LINE = _("Reply 1 if you are going")


def answer_line_for(locale: str) -> str:
    """The last line of an alert SMS: how to answer it, in the language of `locale`."""
    return translate(locale, ANSWER_LINE)
