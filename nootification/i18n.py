"""The message catalog: every text a member of staff reads or hears, in their language (Babel, gettext).

The English texts are the message ids; each other language has its catalog in
`translations/<language>/LC_MESSAGES/messages.po`, compiled in memory the first time it is needed (no
compiled file to build or keep in step). A person's language is their own `locale` when they chose one,
else their shop's (`locale_for`); times are shown in the shop's timezone, on 24 hours in French.
"""

import functools
import io
import re
import zoneinfo
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DEFAULT_LOCALE = "en"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"


def shipped_languages() -> list[str]:
    """The languages we have a catalog for, English (the message ids) first."""
    return [DEFAULT_LOCALE, *sorted(path.name for path in TRANSLATIONS.iterdir() if path.is_dir())]


def parsed(tag: str) -> Locale | None:
    """The Babel locale of a BCP 47 tag (`fr-FR`, `fr`, `en`), None when it names no known locale."""
    try:
        return Locale.parse(tag.replace("_", "-"), sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        return None


# The BCP 47 tags we take: a language, and maybe a region (`fr`, `fr-FR`, `es-419`).
TAG = re.compile(r"[a-z]{2,3}(-(?:[A-Z]{2}|[0-9]{3}))?")


def is_shipped(tag: object) -> bool:
    """Whether a tag is a BCP 47 locale (a language, maybe a region) whose language has a catalog."""
    if not isinstance(tag, str) or TAG.fullmatch(tag) is None:
        return False
    locale = parsed(tag)
    return locale is not None and locale.language in shipped_languages()


def language(tag: str) -> str:
    """The language of a locale (`fr-FR` -> `fr`)."""
    return tag.replace("_", "-").split("-")[0].lower()


def locale_for(person_locale: str | None, shop_locale: str | None) -> str:
    """The language to speak to a person about a shop's alert: their own when they set one, else the
    shop's, else English."""
    return person_locale or shop_locale or DEFAULT_LOCALE


@functools.cache
def _translations(lang: str) -> NullTranslations:
    catalog_path = TRANSLATIONS / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not catalog_path.exists():
        return NullTranslations()
    with catalog_path.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def translations(locale: str) -> NullTranslations:
    """The gettext translations of a locale's language; English (the ids as they are) when none ships."""
    parsed_locale = parsed(locale)
    return _translations(parsed_locale.language if parsed_locale is not None else DEFAULT_LOCALE)


def mark(message: str) -> str:
    """A text for the catalog, translated later where the reader's language is known (gettext's `N_`)."""
    return message


def best_language(accepted: Iterable[tuple[str, float]]) -> str:
    """The shipped language a browser prefers (its `Accept-Language`), for a page that knows no person."""
    for tag, _quality in sorted(accepted, key=lambda pair: -pair[1]):
        if is_shipped(tag.split("-")[0].lower()):
            return tag.split("-")[0].lower()
    return DEFAULT_LOCALE


def translate(locale: str, message: str, **values: object) -> str:
    """`message` in the locale's language, with `%(name)s` placeholders filled from `values`."""
    text = translations(locale).gettext(message)
    return text % values if values else text


def _babel_locale(locale: str) -> Locale:
    return parsed(locale) or Locale.parse(DEFAULT_LOCALE)


def local_time(moment: datetime, locale: str, timezone: str) -> str:
    """The hour and minute of `moment` in the shop's timezone, on 24 hours (`14:05`).

    English texts have always said 14:05 too; the 12-hour clock would also put a narrow no-break space
    (outside GSM-7) into every English SMS.
    """
    return format_time(moment, "HH:mm", tzinfo=zoneinfo.ZoneInfo(timezone), locale=_babel_locale(locale))


def local_time_with_seconds(moment: datetime, locale: str, timezone: str) -> str:
    """The time of `moment` with its seconds, in the shop's timezone, on 24 hours (`14:05:09`)."""
    return format_time(moment, "HH:mm:ss", tzinfo=zoneinfo.ZoneInfo(timezone), locale=_babel_locale(locale))


def local_day(moment: datetime, locale: str, timezone: str) -> str:
    """The day of `moment` in the shop's timezone, in the locale's words, and the zone's abbreviation
    (`Fri 20 Mar, CET`; `ven. 20 mars, CET`)."""
    local = moment.astimezone(zoneinfo.ZoneInfo(timezone))
    return f"{format_date(local, 'EEE d MMM', locale=_babel_locale(locale))}, {local.strftime('%Z')}"


def local_datetime(moment: datetime, locale: str, timezone: str) -> str:
    """The date and time of `moment` in the shop's timezone, on 24 hours, with the zone's abbreviation
    (`2026-03-20 12:31 CET`)."""
    local = moment.astimezone(zoneinfo.ZoneInfo(timezone))
    written = format_datetime(local, "yyyy-MM-dd HH:mm", locale=_babel_locale(locale))
    return f"{written} {local.strftime('%Z')}"
