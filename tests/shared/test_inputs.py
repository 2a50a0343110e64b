"""The input types every route shares: what they accept and what they refuse with a validation error."""

from datetime import datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.inputs import Instant, WallTime

instant: TypeAdapter[datetime] = TypeAdapter(Instant)
wall_time: TypeAdapter[datetime] = TypeAdapter(WallTime)


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "1969-12-31T23:59:59Z"]
)
def test_an_instant_at_the_ends_of_the_calendar_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="must be from 1970-01-01"):
        instant.validate_python(value)


def test_an_instant_of_these_years_keeps_its_offset() -> None:
    value = instant.validate_python("2026-03-03T12:00:00-06:00")
    assert value.isoformat() == "2026-03-03T12:00:00-06:00"


def test_an_instant_needs_its_offset_and_a_wall_time_must_not_have_one() -> None:
    with pytest.raises(ValidationError):
        instant.validate_python("2026-03-03T12:00:00")
    with pytest.raises(ValidationError):
        wall_time.validate_python("2026-03-03T12:00:00Z")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00", "9999-12-31T23:59:59"])
def test_a_wall_time_at_the_ends_of_the_calendar_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="must be from 1970-01-01"):
        wall_time.validate_python(value)
