"""How many SMS segments a text takes: GSM-7 (the GSM 03.38 alphabet) when it can, UCS-2 otherwise.

A single SMS carries 160 GSM-7 septets or 70 UCS-2 code units; a longer text is sent as concatenated segments
of 153 septets or 67 units (the rest holds the header that joins them). An extension character (`€`, `[`...)
is an escape and a septet, two septets that never straddle two segments; in UCS-2 a character outside the
Basic Multilingual Plane (an emoji) is two units, never split either. One character outside GSM-7 turns the
whole text to UCS-2, which halves what a segment holds.
"""

import unicodedata
from collections.abc import Iterable

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# Characters outside GSM-7 with a GSM-7 spelling that means the same: typography, not letters.
_SAME_IN_GSM7 = {
    "‘": "'",
    "’": "'",
    "ʼ": "'",
    "“": '"',
    "”": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\t": " ",
    "œ": "oe",
    "Œ": "OE",
}


def is_gsm7(text: str) -> bool:
    """Whether every character of `text` is in the GSM-7 alphabet or its extension table."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def _costs(text: str) -> Iterable[int]:
    if is_gsm7(text):
        return (2 if char in GSM7_EXTENSION else 1 for char in text)
    return (2 if ord(char) > 0xFFFF else 1 for char in text)


def length(text: str) -> int:
    """The text's length as an SMS counts it: GSM-7 septets, or UTF-16 code units when it needs UCS-2."""
    return sum(_costs(text))


def segments(text: str) -> int:
    """How many segments the text is sent as (an empty text is still one message)."""
    single, part = (GSM7_SINGLE, GSM7_PART) if is_gsm7(text) else (UCS2_SINGLE, UCS2_PART)
    costs = list(_costs(text))
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


def gsm7_spelling(text: str) -> str | None:
    """`text` spelt in GSM-7: typographic marks as their plain forms, and a letter outside GSM-7 as its base
    letter (`ê` -> `e`, `ç` -> `c`, `œ` -> `oe`); None when some character has no such spelling."""
    spelt = []
    for char in text:
        if char in GSM7_BASIC or char in GSM7_EXTENSION:
            spelt.append(char)
        elif char in _SAME_IN_GSM7:
            spelt.append(_SAME_IN_GSM7[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
            if not base or not is_gsm7(base):
                return None
            spelt.append(base)
    return "".join(spelt)
