"""The SMS segment counter: GSM-7 septets or UCS-2 units, single or concatenated, and the GSM-7 spelling."""

import pytest

from nootification.senders.segments import gsm7_spelling, is_gsm7, length, segments


@pytest.mark.parametrize(
    ("text", "gsm7", "units", "count"),
    [
        ("", True, 0, 1),
        ("a" * 160, True, 160, 1),
        ("a" * 161, True, 161, 2),
        ("a" * 306, True, 306, 2),
        ("a" * 307, True, 307, 3),
        ("Vol repéré à Hypermarché, où ça ? Là.", False, 37, 1),
        ("Vol repéré à Hypermarché, où ? Là: è é à ù É Ç ü ö ä ñ", True, 54, 1),
        ("é" * 160, True, 160, 1),
        ("ê" * 70, False, 70, 1),
        ("ê" * 71, False, 71, 2),
        ("a" * 150 + "ê", False, 151, 3),
        ("a" * 133 + "ô", False, 134, 2),
        ("a" * 134 + "ç", False, 135, 3),
        ("€" * 80, True, 160, 1),
        ("€[]{}~^\\|", True, 18, 1),
        ("a" * 159 + "€", True, 161, 2),
        # An escape and its character never straddle two segments: 152 + 2 does not fit in 153.
        ("a" * 152 + "€" + "a" * 152, True, 306, 3),
        ("a" * 153 + "€" + "a" * 151, True, 306, 2),
        ("😀", False, 2, 1),
        ("😀" * 35, False, 70, 1),
        ("😀" * 36, False, 72, 2),
        # Neither is a surrogate pair split: 66 + 2 does not fit in 67.
        ("a" * 66 + "😀" + "a" * 66, False, 134, 3),
        ("a" * 67 + "😀" + "a" * 65, False, 134, 2),
        ("œuvre", False, 5, 1),
        ("l’étalage", False, 9, 1),
        ("…", False, 1, 1),
    ],
)
def test_length_and_segments(text, gsm7, units, count):
    assert is_gsm7(text) is gsm7
    assert length(text) == units
    assert segments(text) == count


@pytest.mark.parametrize(
    ("text", "spelt"),
    [
        ("Vol repéré à 12:31", "Vol repéré à 12:31"),
        ("Côte-Saint-André", "Cote-Saint-André"),
        ("Forêt, Île, Aîné, Sûr, Noël, Maïs, Haÿ", "Foret, Ile, Ainé, Sur, Noel, Mais, Hay"),
        ("Reçu Ça", "Recu Ça"),
        ("Œuf cœur", "OEuf coeur"),
        ("l’étalage « vite » – 3…", 'l\'étalage " vite " - 3...'),
        ("12\u00a0h\u202f:", "12 h :"),
        ("vol 😀", None),
        ("кража", None),
    ],
)
def test_gsm7_spelling_keeps_gsm7_letters_and_drops_only_what_is_outside(text, spelt):
    assert gsm7_spelling(text) == spelt
    if spelt is not None:
        assert is_gsm7(spelt)
