"""When a meeting happens: its occurrences in a window of time, free of I/O.

Rules are expanded on wall-clock times in the meeting's own time zone (dateutil's rrule), and each
occurrence is placed on the timeline only then, so a 19:00 meeting stays at 19:00 on both sides of a
daylight-saving change. An occurrence is known by its date on the meeting's calendar: that date is
what a cancellation, a move, a check-in code and an attendance record refer to.
"""

import datetime as dt
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule

from services.meetings.model import Listing, Meeting

# A meeting without an end time lasts an hour (the Meeting Guide's default).
DEFAULT_LENGTH = timedelta(hours=1)


@dataclass(frozen=True)
class Occurrence:
    date: dt.date  # on the meeting's calendar, before any move
    starts_at: datetime  # aware, in the meeting's time zone
    ends_at: datetime
    cancelled: bool = False
    moved: bool = False


def rrule_weekday(day: int) -> rrule.weekday:
    """Meeting Guide days count from Sunday = 0; dateutil's from Monday = 0."""
    return rrule.weekdays[(day + 6) % 7]


def rules(listing: Listing, start: dt.date) -> rrule.rruleset:
    """The listing's rules from `start` on, on naive wall-clock datetimes."""
    first = datetime.combine(start, listing.time)
    rules = rrule.rruleset()
    if listing.weekdays:
        rules.rrule(
            rrule.rrule(rrule.WEEKLY, dtstart=first, byweekday=[rrule_weekday(d) for d in listing.weekdays])
        )
    for monthly in listing.monthly:
        rules.rrule(
            rrule.rrule(rrule.MONTHLY, dtstart=first, byweekday=rrule_weekday(monthly.day)(monthly.nth))
        )
    for date in listing.dates:
        rules.rdate(datetime.combine(date, listing.time))
    return rules


def place(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time on the timeline; a time that a spring-forward skips becomes the one after the gap."""
    return wall.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone)


def length(listing: Listing) -> timedelta:
    if listing.end_time is None:
        return DEFAULT_LENGTH
    start = datetime.combine(dt.date(2000, 1, 3), listing.time)
    end = datetime.combine(dt.date(2000, 1, 3), listing.end_time)
    return end - start if end > start else end + timedelta(days=1) - start  # past midnight


def occurrences(meeting: Meeting, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences that start in [start, end) (aware datetimes), in order, cancelled ones marked."""
    listing = meeting.listing
    zone = ZoneInfo(listing.timezone)
    duration = length(listing)
    moved = {m.occurrence: m.to for m in meeting.moved}
    cancelled = set(meeting.cancelled_occurrences)
    # A day's margin either side: the window is in UTC, the rules in the meeting's own calendar, and a
    # moved occurrence may land up to a week away from its date.
    local_start = start.astimezone(zone).replace(tzinfo=None) - timedelta(days=8)
    local_end = end.astimezone(zone).replace(tzinfo=None) + timedelta(days=8)
    found = []
    for wall in rules(listing, local_start.date()).between(local_start, local_end, inc=True):
        date = wall.date()
        at = place(moved.get(date, wall), zone)
        if start <= at < end:
            found.append(
                Occurrence(date, at, at + duration, cancelled=date in cancelled, moved=date in moved)
            )
    return sorted(found, key=lambda o: o.starts_at)


def occurrence_on(meeting: Meeting, date: dt.date) -> Occurrence | None:
    """The occurrence the rules give for a date on the meeting's calendar, if they give one."""
    zone = ZoneInfo(meeting.listing.timezone)
    day_start = datetime.combine(date, dt.time(0), tzinfo=zone) - timedelta(days=8)
    for o in occurrences(meeting, day_start, day_start + timedelta(days=17)):
        if o.date == date:
            return o
    return None


def next_occurrences(
    meeting: Meeting, after: datetime, count: int, *, horizon_days: int = 400
) -> list[Occurrence]:
    """The next `count` occurrences that are not cancelled."""
    found = [o for o in occurrences(meeting, after, after + timedelta(days=horizon_days)) if not o.cancelled]
    return found[:count]
