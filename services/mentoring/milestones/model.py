"""Milestone rules, free of I/O: which milestones a recovery date brings, on which of the member's own
local dates, and the instant each is announced.

Milestones, in order: 24 hours, 30, 60 and 90 days, 6 and 9 months, 1 year, 18 months, then every year
(codes "24h", "30d", "60d", "90d", "6m", "9m", "1y", "18m", "2y", "3y" ...).

Dates are calendar dates in the member's own time zone, never instants: a milestone is reached on a
local date and announced at the start of that date there (local midnight, or the first instant of the
day when a DST change skips midnight itself, as in America/Santiago).

- "24h" is the day after the recovery date (a whole first day is behind the member then).
- A day milestone is that many days after the recovery date.
- A month or year milestone is the same day of the month that many months later, counted from the
  recovery date itself each time (never from the previous milestone), and clamped to the last day of
  a month that is shorter (dateutil's relativedelta): from 31 January, 1 month is 28 or 29 February,
  6 months is 31 July; from 29 February 2024, 1 year is 28 February 2025 and 4 years is 29 February
  2028 again.
"""

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from contracts.ids import id_for
from contracts.mentoring import MilestoneReached, MilestoneReachedData

Audience = Literal["nobody", "mentor", "group"]
SOURCE = "mentoring"

# The earliest recovery date taken: yearly milestones from it stay far inside datetime's range.
EARLIEST_RECOVERY = dt.date(1900, 1, 1)
# Yearly milestones stop here; nobody's recovery lasts longer, and the iteration must end.
MAX_YEARS = 150

_FIXED: tuple[tuple[str, relativedelta], ...] = (
    ("24h", relativedelta(days=1)),
    ("30d", relativedelta(days=30)),
    ("60d", relativedelta(days=60)),
    ("90d", relativedelta(days=90)),
    ("6m", relativedelta(months=6)),
    ("9m", relativedelta(months=9)),
    ("1y", relativedelta(years=1)),
    ("18m", relativedelta(months=18)),
)


@dataclass(frozen=True)
class Milestone:
    index: int  # its place in the sequence: 0 is "24h"
    code: str
    reached_on: dt.date  # the member's own local date


def _offset(index: int) -> tuple[str, relativedelta]:
    if index < len(_FIXED):
        return _FIXED[index]
    years = index - len(_FIXED) + 2  # after "18m" come 2y, 3y ...
    return f"{years}y", relativedelta(years=years)


def milestone(recovery_date: dt.date, index: int) -> Milestone | None:
    """The `index`-th milestone of a recovery date (0 is "24h"), or None past the last one counted."""
    if index < 0 or index >= len(_FIXED) + MAX_YEARS - 1:
        return None
    code, offset = _offset(index)
    try:
        return Milestone(index, code, recovery_date + offset)
    except OverflowError:  # a year past 9999
        return None


def milestones(recovery_date: dt.date, start: int = 0) -> Iterator[Milestone]:
    """Every milestone of a recovery date from the `start`-th, in order (each later than the one before)."""
    index = start
    while (found := milestone(recovery_date, index)) is not None:
        yield found
        index += 1


def milestones_between(recovery_date: dt.date, after: dt.date, through: dt.date) -> list[Milestone]:
    """The milestones reached on a local date in (`after`, `through`]."""
    found = []
    for m in milestones(recovery_date):
        if m.reached_on > through:
            break
        if m.reached_on > after:
            found.append(m)
    return found


def next_milestone(recovery_date: dt.date, after: dt.date) -> Milestone | None:
    """The first milestone reached on a local date later than `after`."""
    return next((m for m in milestones(recovery_date) if m.reached_on > after), None)


def passed_count(recovery_date: dt.date, today: dt.date) -> int:
    """How many milestones are reached on or before `today`: those a newly set date does not announce."""
    count = 0
    for m in milestones(recovery_date):
        if m.reached_on > today:
            break
        count += 1
    return count


def start_of_day(day: dt.date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) of a local date: its midnight, or the end of a DST gap that skips it.

    Read with fold=0 a local time takes the offset in force before a change, fold=1 the one after: for
    an ordinary midnight both give the same instant, for a midnight that happens twice the earlier is
    the first, and for a midnight that never happens the two instants bracket the change, which is
    where the day begins (found to the second, by halving).
    """
    naive = datetime.combine(day, dt.time())
    first, second = (naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    early, late = min(first, second), max(first, second)
    if early.astimezone(zone).date() == day:
        return early
    # `early` is still the day before there, `late` is inside the day.
    while late - early > timedelta(seconds=1):
        middle = early + (late - early) / 2
        if middle.astimezone(zone).date() == day:
            late = middle
        else:
            early = middle
    return late.replace(microsecond=0)


def local_today(now: datetime, zone: ZoneInfo) -> dt.date:
    return now.astimezone(zone).date()


@dataclass(frozen=True)
class Due:
    """The next milestone to announce and when."""

    milestone: Milestone
    at: datetime


def due(recovery_date: dt.date, zone: ZoneInfo, index: int) -> Due | None:
    found = milestone(recovery_date, index)
    return None if found is None else Due(found, start_of_day(found.reached_on, zone))


def recipients(audience: Audience, member_id: str, mentor_id: str | None, circle: list[str]) -> list[str]:
    """Who hears of a member's milestone, as their mentoring is now.

    `mentor_id` is the mentor of the member's active match (None without one), `circle` the members of
    that mentor's active matches. "group" is the member's mentoring circle: their mentor and the
    mentor's other active mentees. Without an active match nobody hears of it.
    """
    if audience == "nobody" or mentor_id is None:
        return []
    if audience == "mentor":
        return [mentor_id]
    others = sorted({m for m in circle if m not in (member_id, mentor_id)})
    return [mentor_id, *others]


def member_ref(org: str, member_id: str) -> str:
    """An opaque key for a member: what document ids, timer entries and event subjects carry (they are
    logged); the member id itself stays in fields."""
    return hashlib.sha256(f"milestones:{org}/{member_id}".encode()).hexdigest()[:32]


def timer_id(org: str, member_id: str, generation: str, index: int, at: datetime) -> str:
    """A timer entry's id: the member, which setting of their recovery date, which milestone and when.

    A new recovery date is a new generation and a new time zone a new instant, so an entry left from
    before either no longer matches the member's document, and firing it does nothing. Opaque, as it
    is logged: a milestone and its instant together would tell the recovery date.
    """
    key = f"{generation}/{index}/{at.astimezone(UTC).isoformat()}"
    return f"{member_ref(org, member_id)}@{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def reached_event(
    org: str,
    member_id: str,
    recovery_date: dt.date,
    reached: Milestone,
    audience: Audience,
    recipient_ids: list[str],
) -> MilestoneReached:
    """Its id comes from the member, the recovery date and the milestone: fired twice, announced once."""
    key = f"milestone_reached:{org}/{member_id}/{recovery_date.isoformat()}/{reached.code}"
    return MilestoneReached.create(
        source=SOURCE,
        org=org,
        subject=member_ref(org, member_id),  # opaque: subjects are logged; data holds the id
        data=MilestoneReachedData(
            member_id=member_id,
            milestone=reached.code,
            reached_on=reached.reached_on,
            audience=audience,
            recipient_ids=recipient_ids,
        ),
        id=id_for(datetime.combine(reached.reached_on, dt.time(), UTC), key),
    )
