"""The public directory's read model and its search, free of I/O.

The local document store scans a collection for any filter but `_id` (DESIGN.md section 5), and a
search has up to eight filters and a sort by the next start. So each process keeps the network's
active meetings in memory, indexed by weekday, type code, attendance option, place and organization,
and kept current by the meetings events (services/meetings/readmodel.py). 20,000 meetings take about
200 MB; a search reads no database.
"""

import bisect
import datetime as dt
import heapq
import math
from collections.abc import Callable, Iterable
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
    time: dt.time  # wall-clock start, in the meeting's zone
    sort_name: str  # casefolded: ties between equal starts go by name
    weekdays: frozenset[int]  # weekly days, monthly rules' days and one-off dates' days (0 = Sunday)
    types: frozenset[str]
    option: AttendanceOption
    text: str  # casefolded: what a text search looks in
    places: frozenset[str]  # casefolded: region, sub-region, regions, city
    point: tuple[float, float] | None  # radians
    starts: list[datetime] = field(default_factory=list)  # non-cancelled starts, UTC, sorted
    starts_until: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=dt.UTC))
    # The answer of the last call, right until that start passes: most calls cost one comparison.
    next: datetime | None = None
    # The meeting as the API shows it, made once by directory_api for as long as this entry lives.
    shown: object = None

    def next_start(self, now: datetime) -> datetime | None:
        if self.next is not None and self.next >= now and self.starts_until - now >= MAX_WITHIN:
            return self.next
        if self.starts_until - now < MAX_WITHIN:
            found = recurrence.occurrences(self.meeting, now - timedelta(days=1), now + HORIZON)
            self.starts = [o.starts_at.astimezone(dt.UTC) for o in found if not o.cancelled]
            self.starts_until = now + HORIZON
        i = bisect.bisect_left(self.starts, now)
        self.next = self.starts[i] if i < len(self.starts) else None
        return self.next


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
        time=listing.time,
        sort_name=listing.name.casefold(),
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
    entry: Entry
    next_start: datetime | None  # UTC
    distance_km: float | None

    @property
    def meeting(self) -> Meeting:
        return self.entry.meeting


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
        self.by_type: dict[str, set[str]] = {}  # language codes are type codes too
        self.by_option: dict[str, set[str]] = {}
        self.by_place: dict[str, set[str]] = {}
        self.by_org: dict[str, set[str]] = {}

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
        self.by_option.setdefault(e.option, set()).add(m.id)
        self.by_org.setdefault(m.org, set()).add(m.id)
        for p in e.places:
            self.by_place.setdefault(p, set()).add(m.id)

    def remove(self, meeting_id: str) -> None:
        old = self.entries.pop(meeting_id, None)
        if old is None:
            return
        for d in old.weekdays:
            self.by_day[d].discard(meeting_id)
        for t in old.types:
            self.by_type[t].discard(meeting_id)
        self.by_option[old.option].discard(meeting_id)
        self.by_org[old.meeting.org].discard(meeting_id)
        for p in old.places:
            self.by_place[p].discard(meeting_id)

    def replace_all(self, meetings: Iterable[Meeting]) -> None:
        fresh = Directory()
        for m in meetings:
            fresh.put(m)
        self.__dict__.update(fresh.__dict__)

    def meetings(self, org: str | None = None) -> list[Meeting]:
        """Every active meeting (of one organization), by id: what the public feeds and calendars list."""
        ids = self.entries.keys() if org is None else self.by_org.get(org, set())
        return [self.entries[i].meeting for i in sorted(ids)]

    def _candidates(self, q: Query) -> list[Entry]:
        """The meetings the indexed filters allow: the smallest set first, then each other one."""
        sets: list[set[str]] = []
        if q.day is not None:
            sets.append(self.by_day[q.day])
        sets += [self.by_type.get(t, set()) for t in (*q.types, *([q.language] if q.language else []))]
        if q.attendance:
            sets.append(set().union(*(self.by_option.get(o, set()) for o in q.attendance)))
        if q.region:
            sets.append(self.by_place.get(q.region.casefold(), set()))
        if not sets:
            return list(self.entries.values())
        sets.sort(key=len)
        ids = sets[0].intersection(*sets[1:])
        return [self.entries[i] for i in ids]

    def search(self, q: Query, now: datetime) -> Page:
        found = self._candidates(q)
        for test in _tests(q):  # each pass over what the one before left
            found = [e for e in found if test(e)]
        centre = (math.radians(q.near[0]), math.radians(q.near[1])) if q.near else None
        distances = {id(e): distance_km(centre, e.point) for e in found if e.point} if centre else {}
        if centre and q.near:
            found = [e for e in found if distances.get(id(e), math.inf) <= q.near[2]]
        if q.starting_within is not None:
            latest = now + q.starting_within
            found = [e for e in found if (start := e.next_start(now)) is not None and start <= latest]
        # Soonest first (nearest first when searching by a point); meetings with no start ahead last.
        never = now + timedelta(days=36500)

        def soonest(e: Entry) -> tuple[datetime, str, str]:
            return (e.next_start(now) or never, e.sort_name, e.meeting.id)

        def nearest(e: Entry) -> tuple[float, datetime, str, str]:
            return (distances[id(e)], *soonest(e))

        wanted = q.offset + q.limit
        first = heapq.nsmallest(wanted, found, key=nearest if centre else soonest)
        hits = [Hit(e, e.next_start(now), distances.get(id(e))) for e in first[q.offset :]]
        return Page(total=len(found), hits=hits)


def _tests(q: Query) -> list[Callable[[Entry], bool]]:
    """One cheap test per filter that no index answers."""
    tests: list[Callable[[Entry], bool]] = []
    if q.time_from:
        time_from = q.time_from
        tests.append(lambda e: e.time >= time_from)
    if q.time_to:
        time_to = q.time_to
        tests.append(lambda e: e.time <= time_to)
    if q.text:
        text = q.text.casefold()
        tests.append(lambda e: text in e.text)
    if q.near:
        # A box around the circle first: two subtractions rule out most meetings before the haversine.
        lat, lon = math.radians(q.near[0]), math.radians(q.near[1])
        dlat = q.near[2] / EARTH_RADIUS_KM
        dlon = min(math.pi, dlat / max(math.cos(lat + math.copysign(dlat, lat)), 1e-6))
        tests.append(
            lambda e: (
                e.point is not None
                and abs(e.point[0] - lat) <= dlat
                and (abs(e.point[1] - lon) <= dlon or abs(e.point[1] - lon) >= 2 * math.pi - dlon)
            )
        )
    return tests
