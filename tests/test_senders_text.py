"""The plain-text layouts of the text-only channels: the link survives any cut."""

import pytest

from nootification.senders.text import subject_and_body, with_link

URL = "https://media.example.com/v.mp4"


@pytest.mark.parametrize(
    ("subject", "body", "text"),
    [("Theft", "At 14:31.", "Theft\nAt 14:31."), ("", "At 14:31.", "At 14:31."), (" Theft ", "  ", "Theft")],
)
def test_subject_and_body(subject, body, text):
    assert subject_and_body(subject, body) == text


@pytest.mark.parametrize(
    ("text", "limit", "result"),
    [
        ("Theft at the shop", 100, f"Theft at the shop\n{URL}"),
        ("", 100, URL),
        ("Theft at the shop", len(URL) + 10, f"Theft at…\n{URL}"),
        ("Theft at the shop", len(URL) + 2, URL),
        ("Theft at the shop", len(URL) - 1, "Theft at the shop"),
        ("Theft at the shop", 10, "Theft at…"),
    ],
    ids=["fits", "no-text", "text-cut", "no-room-for-text", "link-too-long", "link-too-long-text-cut"],
)
def test_with_link_cuts_the_text_never_the_link(text, limit, result):
    assert with_link(text, URL, limit) == result
    assert len(result) <= limit
