"""Plain-text layouts shared by the channels that send text only."""

ELLIPSIS = "…"


def subject_and_body(subject: str, body: str) -> str:
    """The subject as a first line above the body, leaving out whichever is empty."""
    return "\n".join(part for part in (subject.strip(), body.strip()) if part)


ACTION_LABEL = "I'm on it / what happened: "


def links(url: str, action_url: str | None) -> str:
    """The video link, and the recipient's action link on the line below it when there is one."""
    return f"{url}\n{ACTION_LABEL}{action_url}" if action_url else url


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


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending with an ellipsis when it had to be cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS
