"""The message catalog: every text marked for it in the code and the pages has its French, no French is left
for a text that is gone, and each translation keeps its text's placeholders."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from nootification.i18n import TRANSLATIONS, is_shipped, shipped_languages, translate

ROOT = Path(__file__).resolve().parent.parent
# As babel.cfg says, for `make catalog`.
METHODS = [("nootification/**.py", "python"), ("nootification/templates/**.html", "jinja2")]
KEYWORDS = {"mark": None, "_": None}
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\{.*?\}\}")


def marked_texts() -> set[str]:
    """Every text the code and the pages mark for the catalog."""
    found = extract_from_dir(str(ROOT), method_map=METHODS, keywords=KEYWORDS, comment_tags=())
    return {message for _file, _line, message, _comments, _context in found if message}


def french() -> dict[str, str]:
    """The French catalog: each English text and its French."""
    with (TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return {message.id: message.string for message in read_po(source) if message.id}


def test_every_marked_text_has_its_french_and_no_french_is_left_over():
    marked, catalog = marked_texts(), french()
    assert len(marked) > 60
    assert sorted(text for text in marked if not catalog.get(text)) == []
    assert sorted(set(catalog) - marked) == []


def test_each_translation_keeps_its_texts_placeholders():
    changed = {
        english: french_text
        for english, french_text in french().items()
        if sorted(PLACEHOLDER.findall(english)) != sorted(PLACEHOLDER.findall(french_text))
    }
    assert changed == {}


def test_babel_cfg_names_the_places_the_test_reads():
    config = (ROOT / "babel.cfg").read_text()
    assert all(f"[{method}: {pattern}]" in config for pattern, method in METHODS)


def test_french_is_shipped_and_an_unknown_language_reads_english():
    assert shipped_languages() == ["en", "fr"]
    assert translate("fr-CA", "Open") == "Ouvrir"
    assert translate("de", "Open") == "Open" and not is_shipped("de")
