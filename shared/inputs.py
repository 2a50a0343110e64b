"""Types for what routes accept, so every service refuses the same bad input with a 422."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, NaiveDatetime

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


Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]
"""A moment with its UTC offset, within the years the network can work with."""

WallTime = Annotated[NaiveDatetime, AfterValidator(_wall_time_in_range)]
"""A local date and time without an offset (read in some time zone), within the same years."""
