"""Attendance rules, free of I/O: check-in codes and their windows, streaks, and when a member has drifted.

An occurrence is known by its date on the meeting's own calendar (services/meetings/recurrence.py);
that date is what a code, a window and an attendance record refer to.
"""

import datetime as dt
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from contracts.ids import id_for
from contracts.meetings import (
    AttendanceRecorded,
    AttendanceRecordedData,
    MemberDisengaged,
    MemberDisengagedData,
)
from services.meetings import recurrence
from services.meetings.model import SOURCE, Listing, Meeting, attendance_option
from services.meetings.recurrence import Occurrence

Method = Literal["code", "facilitator"]

# Codes are read aloud and copied from a screen across a room: of each set of symbols that look alike
# (0/O/Q/D, 1/I/L, 2/Z, 5/S, 8/B, 6/G) at most one is used. 23 symbols, 6 of them: 148 million codes.
ALPHABET = "ACEFHJKMNPRTUVWXY345679"
CODE_LENGTH = 6
MAX_CODE_INPUT = 32  # what a member may type, spaces and dashes included

# What "usual meetings" means (see `usual_meetings`).
USUAL_LOOKBACK = timedelta(weeks=8)
USUAL_MIN_ATTENDANCES = 2
WEEK = timedelta(weeks=1)


# Check-in codes


def checkin_code(secret: str, meeting_id: str, occurrence: dt.date) -> str:
    """The occurrence's code: an HMAC of the meeting and the date, so nothing is stored, every occurrence
    has its own, and nobody without the secret can work out next week's from this week's."""
    message = f"{meeting_id}/{occurrence.isoformat()}".encode()
    number = int.from_bytes(hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16], "big")
    symbols = []
    for _ in range(CODE_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        symbols.append(ALPHABET[index])
    return "".join(symbols)


def normalize_code(given: str) -> str:
    """As a member may type it: any case, with spaces or dashes ("ab3-k7 p")."""
    return "".join(given.split()).replace("-", "").upper()


def code_matches(expected: str, given: str) -> bool:
    """Constant-time, so the time an answer takes says nothing about how much of a guess was right."""
    return hmac.compare_digest(expected.encode(), normalize_code(given).encode())


@dataclass(frozen=True)
class CheckinRules:
    secret: str
    opens_before: timedelta  # the code works from this long before the start ...
    closes_after: timedelta  # ... to this long after the end


@dataclass(frozen=True)
class Window:
    opens: datetime
    closes: datetime

    def contains(self, at: datetime) -> bool:
        return self.opens <= at <= self.closes


def window(occurrence: Occurrence, rules: CheckinRules) -> Window | None:
    """When the occurrence's code works: around its (possibly moved) time; never for a cancelled one."""
    if occurrence.cancelled:
        return None
    return Window(occurrence.starts_at - rules.opens_before, occurrence.ends_at + rules.closes_after)


def open_occurrence(meeting: Meeting, now: datetime, rules: CheckinRules) -> Occurrence | None:
    """The occurrence a check-in made `now` is for: the one whose window holds `now`.

    Windows of a meeting that meets often (twice a day, with long windows) can overlap; the
    occurrence whose start is nearest to now is the one people are at.
    """
    if meeting.cancelled:
        return None
    span = recurrence.length(meeting.listing) + rules.closes_after
    near = recurrence.occurrences(meeting, now - span, now + rules.opens_before + timedelta(seconds=1))
    open_ = [o for o in near if (w := window(o, rules)) is not None and w.contains(now)]
    return min(open_, key=lambda o: abs(o.starts_at - now), default=None)


def occurrence_of_code(
    meeting: Meeting, given: str, now: datetime, rules: CheckinRules, *, days: int = 35
) -> Occurrence | None:
    """The occurrence around `now` (within `days`) whose code `given` is: to tell a member that a code is
    another occurrence's (last week's, say) rather than just wrong."""
    around = recurrence.occurrences(meeting, now - timedelta(days=days), now + timedelta(days=days))
    for o in around:
        if code_matches(checkin_code(rules.secret, meeting.id, o.date), given):
            return o
    return None


# What an attendance records


def where(listing: Listing) -> str | None:
    """The place as a proof of attendance names it."""
    if listing.formatted_address:
        place = listing.formatted_address
    else:
        parts = (listing.address, listing.city, listing.state, listing.postal_code, listing.country)
        place = ", ".join(p for p in parts if p) or ""
    if listing.location:
        place = f"{listing.location}, {place}" if place else listing.location
    return place or None


@dataclass(frozen=True)
class Attended:
    """One attendance, with what the meeting was at the time: a proof must not change when the listing
    does (a renamed or moved meeting), so the record keeps its own copy."""

    meeting_id: str
    meeting_org: str
    occurrence: dt.date
    starts_at: datetime  # UTC
    ends_at: datetime
    name: str
    timezone: str
    where: str | None
    online: bool
    attendance_option: str
    method: Method
    recorded_at: datetime

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))

    @property
    def local_end(self) -> datetime:
        return self.ends_at.astimezone(ZoneInfo(self.timezone))


def attended(meeting: Meeting, occurrence: Occurrence, method: Method, now: datetime) -> Attended:
    return Attended(
        meeting_id=meeting.id,
        meeting_org=meeting.org,
        occurrence=occurrence.date,
        starts_at=occurrence.starts_at.astimezone(dt.UTC),
        ends_at=occurrence.ends_at.astimezone(dt.UTC),
        name=meeting.listing.name,
        timezone=meeting.listing.timezone,
        where=where(meeting.listing),
        online=meeting.listing.online,
        attendance_option=attendance_option(meeting.listing),
        method=method,
        recorded_at=now.astimezone(dt.UTC),
    )


def member_ref(member_org: str, member_id: str) -> str:
    """An opaque key for a member: what document ids, scheduler entries and event subjects carry.

    Ids end up in logs (the scheduler and the outbox log the ids they handle) and a token's `sub` is
    the provider's, which may be close to who someone is; the id itself stays in fields, never logged.
    """
    return hashlib.sha256(f"{member_org}/{member_id}".encode()).hexdigest()[:32]


def record_key(member_org: str, member_id: str, meeting_id: str, occurrence: dt.date) -> str:
    """One record per member and occurrence, in the member's organization."""
    return f"{member_org}/{member_ref(member_org, member_id)}/{meeting_id}/{occurrence.isoformat()}"


# Failed check-ins
#
# A code is 6 of 23 symbols (148 million): guessing is hopeless when guesses are few. A member may
# get MAX_FAILURES codes wrong for an occurrence in any FAILURE_WINDOW, then waits until the oldest
# of them is that old: at most 50 guesses in an occurrence's whole check-in window (2.5 hours by
# default). Each attempt holds one of MAX_FAILURES slots while its code is compared, and keeps it
# only when the code was wrong: a burst of guesses sent at once gets no more than that either.

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


def failure_counts(at: datetime, now: datetime) -> bool:
    """Whether a wrong code tried `at` still holds its slot at `now`."""
    return now < at + FAILURE_WINDOW


def retry_after(failures: Iterable[datetime], now: datetime) -> timedelta:
    """How long until the oldest of the failures that hold every slot frees one."""
    counting = [at for at in failures if failure_counts(at, now)]
    return min(counting) + FAILURE_WINDOW - now if counting else timedelta(0)


def recorded_event(member_org: str, member_id: str, a: Attended) -> AttendanceRecorded:
    """Announced in the member's organization (the one that may know who they are). Its id is made from
    the record, so a check-in retried after a lost answer cannot announce it a second time."""
    key = f"attendance_recorded:{record_key(member_org, member_id, a.meeting_id, a.occurrence)}"
    data = AttendanceRecordedData(
        meeting_id=a.meeting_id, occurrence=a.occurrence, member_id=member_id, method=a.method
    )
    return AttendanceRecorded.create(
        source=SOURCE, org=member_org, subject=a.meeting_id, data=data, id=id_for(a.starts_at, key)
    )


# History and streaks


def week_of(day: dt.date) -> dt.date:
    """The Monday of the day's week (ISO weeks: a streak counts weeks, not days)."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Streaks:
    current: int  # consecutive weeks with an attendance, up to this week (or last, this one not over)
    longest: int


def streaks(days: Iterable[dt.date], today: dt.date) -> Streaks:
    weeks = sorted({week_of(d) for d in days})
    longest = run = 0
    previous: dt.date | None = None
    for week in weeks:
        run = run + 1 if previous is not None and week - previous == WEEK else 1
        longest = max(longest, run)
        previous = week
    # A week not over yet does not break a streak: someone who meets on Fridays is still on it on Monday.
    this_week = week_of(today)
    current = run if previous in (this_week, this_week - WEEK) else 0
    return Streaks(current=current, longest=longest)


@dataclass(frozen=True)
class Summary:
    total: int
    meetings: int
    first: dt.date | None
    last: dt.date | None
    weeks_attended: int
    streaks: Streaks


def summary(history: Sequence[Attended], today: dt.date) -> Summary:
    days = [a.occurrence for a in history]
    return Summary(
        total=len(history),
        meetings=len({a.meeting_id for a in history}),
        first=min(days, default=None),
        last=max(days, default=None),
        weeks_attended=len({week_of(d) for d in days}),
        streaks=streaks(days, today),
    )


def in_order(history: Iterable[Attended]) -> list[Attended]:
    return sorted(history, key=lambda a: (a.starts_at, a.meeting_id))


# Disengagement
#
# A member's usual meetings are those they attended at least twice in the 8 weeks up to their latest
# attendance of any meeting. Twice, because one visit is a try, not a habit; 8 weeks, because a
# weekly meeting is then usual after a fortnight and a monthly one (first Sunday) can still count.
# The 8 weeks end at the latest attendance, not today: measured from today they would empty out
# while the member stays away, and someone absent for longer than the lookback would have no usual
# meetings left and so never count as disengaged, which is exactly when they are.
#
# A member is disengaged when they have usual meetings and have attended none of them for
# `weeks` weeks. Going to another meeting once in a while does not hide a lapse (it is not usual);
# going regularly to a new one does (it becomes usual). A member with no usual meetings (new, or
# who drops in now and then) is never flagged: there is no pattern to have broken.
# A week (each 7 days after the last usual attendance) in which the usual meetings did not meet is
# not missed: every occurrence they had that week was cancelled, or each of them is cancelled for
# good. A week with no occurrence at all (a monthly meeting's other weeks) still counts: the member
# stayed away as usual meetings go, and a monthly habit would otherwise take months to miss.
# One lapse is announced once: it is known by the last usual attendance before it.


def usual_meetings(history: Sequence[Attended]) -> list[str]:
    if not history:
        return []
    latest = max(a.starts_at for a in history)
    recent = Counter(a.meeting_id for a in history if a.starts_at > latest - USUAL_LOOKBACK)
    return sorted(m for m, n in recent.items() if n >= USUAL_MIN_ATTENDANCES)


def last_usual(history: Sequence[Attended]) -> datetime | None:
    usual = set(usual_meetings(history))
    return max((a.starts_at for a in history if a.meeting_id in usual), default=None)


# The usual meetings as they are now, by id; None for one that is not found (it cannot be missed).
UsualMeetings = Mapping[str, Meeting | None]


def excused_weeks(last: datetime, now: datetime, usual: UsualMeetings) -> int:
    """The whole weeks after `last`, up to `now`, in which none of the usual meetings met."""
    whole = (now - last) // WEEK
    active = [m for m in usual.values() if m is not None and not m.cancelled]
    if not active:
        return whole  # nothing usual meets any more: there is nothing to miss
    held: set[int] = set()
    cancelled: set[int] = set()
    # Week k is (last + k weeks, last + k+1 weeks]: the first ends with a weekly meeting's next one.
    after, tick = last + timedelta(microseconds=1), timedelta(microseconds=1)
    for m in active:
        for o in recurrence.occurrences(m, after, last + whole * WEEK + tick):
            (cancelled if o.cancelled else held).add(-((last - o.starts_at) // WEEK) - 1)
    return len(cancelled - held)


def next_check(history: Sequence[Attended], weeks: int, excused: int = 0) -> datetime | None:
    """When the member becomes disengaged if they attend nothing usual before then (`excused` weeks
    later when that many weeks are known not to count)."""
    last = last_usual(history)
    return last + (weeks + excused) * WEEK if last else None


@dataclass(frozen=True)
class Lapse:
    last_attended: datetime  # the last usual attendance before it
    weeks: int  # whole weeks since
    usual_meeting_ids: list[str]

    @property
    def key(self) -> str:
        return self.last_attended.astimezone(dt.UTC).isoformat()


def disengagement(
    history: Sequence[Attended], now: datetime, weeks: int, usual: UsualMeetings | None = None
) -> Lapse | None:
    """The member's lapse at `now`, if they have one. `usual` holds the usual meetings as they are
    now (see `usual_meetings`): without it, every week since the last usual attendance counts."""
    last = last_usual(history)
    if last is None or now - last < weeks * WEEK:
        return None
    excused = excused_weeks(last, now, usual) if usual is not None else 0
    if (now - last) // WEEK - excused < weeks:
        return None
    return Lapse(last, (now - last) // WEEK, usual_meetings(history))


def disengaged_event(member_org: str, member_id: str, lapse: Lapse, weeks: int) -> MemberDisengaged:
    """Its id is made from the lapse, so a check fired twice (two replicas, a restart) announces it once."""
    data = MemberDisengagedData(
        member_id=member_id,
        weeks=lapse.weeks,
        last_attended=lapse.last_attended.date(),
        usual_meeting_ids=lapse.usual_meeting_ids,
    )
    key = f"member_disengaged:{member_org}/{member_id}@{lapse.key}"
    return MemberDisengaged.create(
        source=SOURCE,
        org=member_org,
        subject=member_ref(member_org, member_id),  # opaque: subjects are logged; data holds the id
        data=data,
        id=id_for(lapse.last_attended + weeks * WEEK, key),
    )
