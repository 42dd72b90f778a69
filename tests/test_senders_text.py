"""The plain-text layouts of the text-only channels: the link survives any cut."""

import pytest

from nootification.senders.segments import is_gsm7, segments
from nootification.senders.text import subject_and_body, with_link, within_segments
from nootification.senders.twilio.replies import answer_line_for

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


NAME = "Hypermarché Côte-Saint-André La Rochelle"  # 40 characters, `ô` outside GSM-7
VIDEO = "https://media.example.com/33cbb18c-3e9d-4acc-9667-2fbe7bf29137.mp4"
ACTION = (
    "https://alertes.enseigne-exemple.fr/s/"
    + "Tk9vdGlmaWNhdGlvbi1hY3Rpb24tbGluay1mb3ItdGhlLXNtcy1sZW5ndGgtdGVzdHMtX0"
)
SHORTEN = ((NAME, 16), ("theft", 10))


def alert_text(name: str = NAME, label: str = "theft") -> str:
    """The shipped French template's subject and body for an alert at `name`."""
    return f"{label.capitalize()} à {name}\n{label.capitalize()} repéré à {name} à 12:31 (critical)."


def fitted(text: str, url: str = VIDEO, action: str | None = ACTION, shorten=SHORTEN) -> str:
    return within_segments(text, url, action, shorten=shorten, segments=2, limit=1600)


def test_a_text_that_fits_is_sent_as_written_even_in_ucs2():
    text = "Vol à Côte"

    assert fitted(text, url="https://v.fr/1.mp4", action=None) == f"{text}\nhttps://v.fr/1.mp4"


def test_a_long_name_outside_gsm7_is_spelt_in_gsm7_then_shortened_and_the_links_stay_whole():
    result = fitted(alert_text())

    assert segments(result) <= 2 and is_gsm7(result)
    text, video, action = result.split("\n")[:2], *result.split("\n")[2:]
    assert video == VIDEO and action.endswith(ACTION)
    assert text[0].startswith("Theft à Hypermarché Cote-Saint-") and text[0].endswith("...")
    assert text[1].startswith("Theft repéré à Hypermarché Cote") and text[1].endswith(
        "... à 12:31 (critical)."
    )


def test_a_long_label_is_shortened_after_the_name():
    label = "suspicious behaviour near the self-checkout tills"
    result = fitted(
        alert_text(name="Auchan La Rochelle", label=label), shorten=(("Auchan La Rochelle", 16), (label, 10))
    )

    assert segments(result) <= 2
    first, second = result.split("\n")[:2]
    assert first.startswith("Suspicious ") and first.endswith("... à Auchan La Rochelle")
    assert second.startswith("Suspicious ") and second.endswith(
        "... repéré à Auchan La Rochelle à 12:31 (critical)."
    )
    assert result.endswith(f"\n{VIDEO}\nI'm on it / what happened: {ACTION}")


def test_without_a_gsm7_spelling_the_text_is_shortened_in_ucs2():
    name = "Магазин 😀 " + "x" * 29
    result = fitted(alert_text(name=name), action=None, shorten=((name, 16), ("theft", 10)))

    assert segments(result) <= 2 and not is_gsm7(result)
    assert result.startswith("Theft à Магазин 😀 xxxxxx…\nTheft repéré à Магазин 😀 xxxxxx…")
    assert result.endswith(f"\n{VIDEO}")


def test_links_too_long_for_two_segments_lose_the_video_link_never_the_action_link():
    video = "https://clips.example-vendor.com/v/33cbb18c.mp4?X-Amz-Signature=" + "a" * 300

    result = fitted(alert_text(), url=video)

    assert segments(result) <= 2
    assert video not in result
    assert result.startswith("Theft à Hypermarché Cote-Saint-André La Rochelle\n")
    assert result.endswith(f"\nI'm on it / what happened: {ACTION}")


def test_a_lone_link_is_never_cut_even_over_two_segments():
    video = "https://clips.example-vendor.com/v/33cbb18c.mp4?X-Amz-Signature=" + "a" * 400

    result = fitted("Camille is on it: theft at Auchan.", url=video, action=None)

    assert result == f"Camille is on it: theft at Auchan.\n{video}"


def test_a_text_without_links_has_no_empty_line():
    assert fitted("Nouveau téléphone\nVos alertes arrivent.", url="", action=None) == (
        "Nouveau téléphone\nVos alertes arrivent."
    )


def test_the_answer_line_ends_the_sms_whole_and_the_text_gives_way_to_it():
    text = "Vol repéré à Hypermarché Côte-Saint-André La Rochelle, rayon parfumerie. " * 3
    result = within_segments(
        text,
        "https://clips.example.fr/" + "v" * 60,
        "https://alertes.example.fr/s/" + "a" * 70,
        shorten=(),
        segments=2,
        limit=1600,
        footer="Répondez 1 si vous y allez",
    )
    assert result.endswith("\nRépondez 1 si vous y allez")
    assert segments(result) <= 2


@pytest.mark.parametrize(
    ("locale", "line"),
    [
        ("fr", "Répondez 1 si vous y allez"),
        ("fr-FR", "Répondez 1 si vous y allez"),
        ("en", "Reply 1 if you are going"),
    ],
)
def test_the_answer_line_is_in_the_users_language(locale, line):
    assert answer_line_for(locale) == line
