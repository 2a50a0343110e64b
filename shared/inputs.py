"""Types for what routes accept, so every service refuses the same bad input with a 422.

Request bodies are `Strict` models: JSON types are taken as they are (no `"day": true` read as 1, no
`"time": 12345` read as seconds), unknown fields are refused, and no text carries control characters.
"""

import datetime as dt
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, NaiveDatetime

# Far enough either side for any roster, override or query, and far enough inside datetime's own
# range (years 1-9999) that moving an instant to any time zone cannot overflow: the calendar's ends
# (0001-01-01T00:00:00Z, 9999-12-31T23:59:59-12:00) made the on-call lookup answer 500.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _instant_in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}")
    return value


def _wall_time_in_range(value: datetime) -> datetime:
    return _instant_in_range(value.replace(tzinfo=UTC)).replace(tzinfo=None)


def _iso_text(value: Any) -> Any:
    # JSON has no date or time type: they come as ISO 8601 text. A number would otherwise be read as
    # seconds (since 1970, or since midnight), which nobody sending one means.
    if isinstance(value, int | float):
        raise ValueError("must be ISO 8601 text")
    return value


# Lax on their own (strict mode would take only Python objects, never the ISO text JSON carries),
# but text only.
_FromText = (pydantic.Strict(False), BeforeValidator(_iso_text))

Instant = Annotated[AwareDatetime, *_FromText, AfterValidator(_instant_in_range)]
"""A moment with its UTC offset, within the years the network can work with."""

WallTime = Annotated[NaiveDatetime, *_FromText, AfterValidator(_wall_time_in_range)]
"""A local date and time without an offset (read in some time zone), within the same years."""


def _wall_clock(value: dt.time) -> dt.time:
    # A time of day is read in some time zone given beside it: an offset of its own ("00:00Z") would make
    # it an aware time, which cannot be compared with the wall-clock times it is meant for (a 500).
    if value.tzinfo is not None:
        raise ValueError('must be a wall-clock time without an offset, "HH:MM"')
    return value


TimeOfDay = Annotated[dt.time, *_FromText, AfterValidator(_wall_clock)]
"""A wall-clock time, "HH:MM" (seconds allowed), without an offset."""

CalendarDate = Annotated[dt.date, *_FromText]
"""A date on a calendar, "YYYY-MM-DD"."""

# Tab, line feed and carriage return belong in free text (notes); other control characters, and the
# halves of a surrogate pair sent alone (which no store can encode), belong in no text.
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def _clean_text(value: str) -> str:
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") and char not in _ALLOWED_CONTROLS:
            raise ValueError(f"character U+{ord(char):04X} is not allowed in text")
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        _clean_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _clean(key)
            _clean(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _clean(item)
    return value


Text = Annotated[str, AfterValidator(_clean_text)]


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "America" is a folder: IsADirectoryError
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as America/Chicago") from exc
    return value


# An IANA time zone name (America/Chicago): wall-clock times are read in it, so an unknown one is a 422.
TimeZone = Annotated[str, AfterValidator(_known_zone)]
"""Free text outside a request body (a query parameter), held to the same rule as body text."""


class Strict(BaseModel):
    """The base of every request body."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return _clean(value)
