"""Plain-text layouts shared by the channels that send text only."""

import re
from collections.abc import Callable, Sequence
from functools import partial

from nootification.i18n import DEFAULT_LOCALE, translate
from nootification.i18n import mark as _
from nootification.senders.segments import gsm7_spelling, is_gsm7
from nootification.senders.segments import segments as segment_count

ELLIPSIS = "…"


def subject_and_body(subject: str, body: str) -> str:
    """The subject as a first line above the body, leaving out whichever is empty."""
    return "\n".join(part for part in (subject.strip(), body.strip()) if part)


# Before the action link, in the recipient's language (GSM-7 letters only in every language).
ACTION_LABEL = _("I'm on it / what happened: ")


def links(url: str, action_url: str | None, locale: str = DEFAULT_LOCALE) -> str:
    """The video link, and the recipient's action link on the line below it when there is one."""
    return f"{url}\n{translate(locale, ACTION_LABEL)}{action_url}" if action_url else url


def with_link(text: str, url: str, limit: int) -> str:
    """`text` then `url` on its own line, within `limit` characters: the text is cut, never the link.

    A link too long to fit at all is left out, so the person still gets the text of the alert.
    """
    text = text.strip()
    if len(url) > limit:
        return cut(text, limit)
    if not text:
        return url
    if len(text) + 1 + len(url) <= limit:
        return f"{text}\n{url}"
    room = limit - len(url) - 1
    if room <= len(ELLIPSIS):
        return url
    return f"{cut(text, room)}\n{url}"


def cut(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` within `limit` characters, ending with an ellipsis when it had to be cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ellipsis)].rstrip() + ellipsis


# A text cut to fit SMS segments keeps at least this many characters, or its links give way.
MIN_TEXT = 40


def within_segments(
    text: str,
    url: str,
    action_url: str | None,
    *,
    shorten: Sequence[tuple[str, int]],
    segments: int,
    limit: int,
    footer: str = "",
    locale: str = DEFAULT_LOCALE,
) -> str:
    """`text` above the video link, the action link and the `footer` line (how to answer), within `segments`
    SMS segments; the links and the footer are never cut.

    The text as written when it fits. Otherwise it is spelt in GSM-7 when it can be (a letter outside it, such
    as `ê`, becomes its base letter: a missing accent costs a French reader less than a missing word, and
    UCS-2 would halve the room), then each of the `shorten` words (the shop's name, the label) is cut, down to
    its number of characters, then the rest of the text, down to MIN_TEXT. When even that leaves no room, the
    video link gives way (the staff page plays the clip); past that, the text and links as `with_link` fits
    them within `limit` characters, over the segments.
    """
    text = text.strip()
    action = f"{translate(locale, ACTION_LABEL)}{action_url}" if action_url else ""
    layouts = [[line for line in lines if line] for lines in ([url, action, footer], [action, footer])]
    if not action:
        layouts = layouts[:1]
    for lines in layouts:
        if segment_count(_laid(text, lines)) <= segments:
            return _laid(text, lines)
        spelt = gsm7_spelling(text)
        if spelt is None or not is_gsm7(spelt + "".join(lines)):
            spelt, words = text, shorten
        else:
            words = [(gsm7_spelling(word) or word, keep) for word, keep in shorten]
        fitted = _shortened_to_fit(spelt, lines, words, segments)
        if fitted is not None:
            return fitted
    return with_link(text, "\n".join(layouts[-1]), limit)


def _laid(text: str, lines: Sequence[str]) -> str:
    return "\n".join([text, *lines] if text else lines)


def _shortened_to_fit(
    text: str, lines: Sequence[str], words: Sequence[tuple[str, int]], segments: int
) -> str | None:
    ellipsis = "..." if is_gsm7(text + "".join(lines)) else ELLIPSIS

    def fits(candidate: str) -> bool:
        return segment_count(_laid(candidate, lines)) <= segments

    if fits(text):
        return _laid(text, lines)
    for word, keep in words:
        found = _longest(keep, len(word) - 1, partial(shortened, text, word, ellipsis=ellipsis), fits)
        if found is not None:
            return _laid(found, lines)
        text = shortened(text, word, keep, ellipsis)
    found = _longest(min(MIN_TEXT, len(text)), len(text) - 1, partial(cut, text, ellipsis=ellipsis), fits)
    return _laid(found, lines) if found is not None else None


def _longest(low: int, high: int, make: Callable[[int], str], fits: Callable[[str], bool]) -> str | None:
    # The longest make(n) for n in [low, high] that fits: a shorter n never takes more segments.
    best = None
    while low <= high:
        middle = (low + high) // 2
        candidate = make(middle)
        if fits(candidate):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def shortened(text: str, word: str, keep: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` with each whole occurrence of `word` (in any case) cut to its first `keep` characters and an
    ellipsis."""
    if not word or keep + len(ellipsis) >= len(word):
        return text
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
    return pattern.sub(lambda match: match.group()[:keep].rstrip() + ellipsis, text)
