"""Field types and validators the API's schemas share: shop names, levels, enums in any case, epoch times."""

import zoneinfo
from datetime import datetime

from marshmallow import ValidationError, fields, validate

from nootification.models import Level, canonical_level_name

LOCATION_NAME_MAX = 255


class CaseInsensitiveEnum(fields.Enum):
    """An enum field that accepts its values in any letter case (a level also as the original's `both`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = canonical_level_name(value) if self.enum is Level else value.lower()
        return super()._deserialize(value, attr, data, **kwargs)


class LocationName(fields.String):
    """A shop's name as the video-analytics system sends it: printable Unicode text, matched exactly."""

    def __init__(self, **kwargs):
        description = (
            f"Printable Unicode text of 1 to {LOCATION_NAME_MAX} characters (spaces, accents, apostrophes, "
            "&), matched exactly: letter case and every character count."
        )
        kwargs.setdefault("metadata", {"description": description})
        super().__init__(validate=[validate.Length(min=1, max=LOCATION_NAME_MAX), _printable], **kwargs)


def _printable(value: str) -> None:
    # str.isprintable is False for control characters, line and paragraph separators, lone surrogates,
    # unassigned code points and every space but U+0020.
    if not value.isprintable():
        raise ValidationError(
            "Must be printable text: no control characters, line breaks, lone surrogates or unusual spaces."
        )


def level_field(**kwargs) -> CaseInsensitiveEnum:
    """A preference level as input: CRITICAL or STANDARD in any case, or the original service's `both`."""
    description = (
        "CRITICAL: critical alerts only; STANDARD: every alert. Any letter case; the original "
        "service's `both` is read as STANDARD."
    )
    return CaseInsensitiveEnum(Level, by_value=True, metadata={"description": description}, **kwargs)


class EpochSeconds(fields.Float):
    """A point in time given and returned as seconds since the Unix epoch."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        return None if value is None else value.timestamp()


def valid_timezone(value: str) -> None:
    """A validator: the value names an IANA timezone (e.g. Europe/Paris)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError("Unknown IANA timezone.") from error
