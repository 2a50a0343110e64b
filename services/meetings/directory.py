"""The public directory's read model and its search, free of I/O.

The local document store scans a collection for any filter but `_id` (DESIGN.md section 5), and a
search has up to eight filters and a sort by the next start. So each process keeps the network's
active meetings in memory, indexed by weekday and type code, and kept current by the meetings events
(services/meetings/readmodel.py). 20,000 meetings take some tens of MB; a search reads no database.
"""

import bisect
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.meetings import AttendanceOption
from services.meetings import model, recurrence
from services.meetings.model import Meeting

# Each entry knows its starts over this horizon; a search for "starting within N hours" looks at most
# MAX_WITHIN ahead, and an entry's starts are worked out again once they cover less than that.
HORIZON = timedelta(days=15)
MAX_WITHIN = timedelta(days=7)
EARTH_RADIUS_KM = 6371.0088


@dataclass
class Entry:
    meeting: Meeting
    weekdays: frozenset[int]  # weekly days, monthly rules' days and one-off dates' days (0 = Sunday)
    types: frozenset[str]
    option: AttendanceOption
    text: str  # casefolded: what a text search looks in
    places: frozenset[str]  # casefolded: region, sub-region, regions, city
    point: tuple[float, float] | None  # radians
    starts: list[datetime] = field(default_factory=list)  # non-cancelled starts, UTC, sorted
    starts_until: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=dt.UTC))

    def next_start(self, now: datetime) -> datetime | None:
        if self.starts_until - now < MAX_WITHIN:
            found = recurrence.occurrences(self.meeting, now - timedelta(days=1), now + HORIZON)
            self.starts = [o.starts_at.astimezone(dt.UTC) for o in found if not o.cancelled]
            self.starts_until = now + HORIZON
        i = bisect.bisect_left(self.starts, now)
        return self.starts[i] if i < len(self.starts) else None


def entry(m: Meeting) -> Entry:
    listing = m.listing
    days = {
        *listing.weekdays,
        *(r.day for r in listing.monthly),
        *(d.isoweekday() % 7 for d in listing.dates),
    }
    words = [
        listing.name, listing.location, listing.formatted_address, listing.address, listing.city,
        listing.group, listing.notes, listing.location_notes, listing.region, listing.sub_region, m.slug,
    ]  # fmt: skip
    places = [listing.region, listing.sub_region, listing.city, *listing.regions]
    point = None
    if listing.latitude is not None and listing.longitude is not None:
        point = (math.radians(listing.latitude), math.radians(listing.longitude))
    return Entry(
        meeting=m,
        weekdays=frozenset(days),
        types=frozenset(listing.types),
        option=model.attendance_option(listing),
        text=" ".join(w for w in words if w).casefold(),
        places=frozenset(p.casefold() for p in places if p),
        point=point,
    )


@dataclass(frozen=True)
class Query:
    day: int | None = None  # on the meeting's own calendar, 0 = Sunday
    time_from: dt.time | None = None  # wall-clock, in the meeting's zone
    time_to: dt.time | None = None
    starting_within: timedelta | None = None  # from now
    types: frozenset[str] = frozenset()  # every one of them
    region: str | None = None
    near: tuple[float, float, float] | None = None  # latitude, longitude (degrees), radius in km
    attendance: frozenset[AttendanceOption] = frozenset()  # any of them
    language: str | None = None  # a language type code (EN, S, ...)
    text: str | None = None
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class Hit:
    meeting: Meeting
    next_start: datetime | None  # UTC
    distance_km: float | None


@dataclass(frozen=True)
class Page:
    total: int
    hits: list[Hit]


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine) between two points given in radians."""
    dlat, dlon = b[0] - a[0], b[1] - a[1]
    h = math.sin(dlat / 2) ** 2 + math.cos(a[0]) * math.cos(b[0]) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class Directory:
    """The active meetings of the network, by id, with indexes for the selective filters."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.by_day: dict[int, set[str]] = {d: set() for d in range(7)}
        self.by_type: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, m: Meeting) -> None:
        """Add, replace or (when cancelled) remove a meeting: applying the same one twice changes nothing."""
        self.remove(m.id)
        if m.cancelled:
            return
        e = entry(m)
        self.entries[m.id] = e
        for d in e.weekdays:
            self.by_day[d].add(m.id)
        for t in e.types:
            self.by_type.setdefault(t, set()).add(m.id)

    def remove(self, meeting_id: str) -> None:
        old = self.entries.pop(meeting_id, None)
        if old is None:
            return
        for d in old.weekdays:
            self.by_day[d].discard(meeting_id)
        for t in old.types:
            self.by_type[t].discard(meeting_id)

    def replace_all(self, meetings: Iterable[Meeting]) -> None:
        self.__init__()  # type: ignore[misc]
        for m in meetings:
            self.put(m)

    def _candidates(self, q: Query) -> Iterable[Entry]:
        ids: set[str] | None = None
        if q.day is not None:
            ids = set(self.by_day[q.day])
        for t in q.types:
            having = self.by_type.get(t, set())
            ids = having.copy() if ids is None else ids & having
        if ids is None:
            return self.entries.values()
        return (self.entries[i] for i in ids)

    def search(self, q: Query, now: datetime) -> Page:
        text = q.text.casefold() if q.text else None
        region = q.region.casefold() if q.region else None
        language = q.language
        centre = (math.radians(q.near[0]), math.radians(q.near[1])) if q.near else None
        found: list[tuple[datetime | None, str, str, float | None, Entry]] = []
        for e in self._candidates(q):
            listing = e.meeting.listing
            if q.attendance and e.option not in q.attendance:
                continue
            if language and language not in e.types:
                continue
            if q.time_from and listing.time < q.time_from:
                continue
            if q.time_to and listing.time > q.time_to:
                continue
            if region and region not in e.places:
                continue
            if text and text not in e.text:
                continue
            distance = None
            if centre and q.near:
                if e.point is None:
                    continue
                distance = distance_km(centre, e.point)
                if distance > q.near[2]:
                    continue
            next_start = e.next_start(now)
            if q.starting_within is not None and (next_start is None or next_start > now + q.starting_within):
                continue
            found.append((next_start, listing.name.casefold(), e.meeting.id, distance, e))
        # Soonest first (nearest first when searching by a point); meetings with no start ahead last.
        never = now + timedelta(days=36500)
        if centre:
            found.sort(key=lambda f: (f[3], f[0] or never, f[1], f[2]))
        else:
            found.sort(key=lambda f: (f[0] or never, f[1], f[2]))
        page = found[q.offset : q.offset + q.limit]
        return Page(total=len(found), hits=[Hit(f[4].meeting, f[0], f[3]) for f in page])
