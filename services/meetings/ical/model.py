"""Meetings as an iCalendar (RFC 5545) calendar, free of I/O.

A meeting is written as recurring events in its own time zone (DTSTART;TZID=..., with the zone's
VTIMEZONE), so a phone repeats the wall-clock time, and a 19:00 meeting stays at 19:00 across a
daylight-saving change just as `recurrence.py` expands it.

A meeting can repeat in up to three ways at once (weekly on some days, monthly on nth weekdays, on
given dates), and RFC 5545 gives one event one RRULE (a second is deprecated, and clients drop it).
So a meeting is up to three events, one per kind of rule, each with a UID of its own
(`<id>@recovery.network` for the first kind it has, `<id>-monthly@...` and `<id>-dates@...` for the
others), and none of them repeats a date another one already has: a monthly rule on a weekday the
meeting already meets on every week, or a one-off date a rule already gives, is left out, so an
occurrence is never shown twice. A cancelled occurrence is an EXDATE, and a moved one an overriding
event with RECURRENCE-ID, both on the event whose rule gives that date.

A cancelled meeting is left out: a subscribed phone replaces its copy on each refresh, so the meeting
disappears from it, where STATUS:CANCELLED on a series would leave every future week on the phone
struck through.
"""

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import icalendar
from dateutil import rrule

from services.meetings.model import Listing, Meeting, type_names
from services.meetings.recurrence import length, place, rrule_weekday

UID_DOMAIN = "recovery.network"
PRODID = "-//Recovery Network//Meetings//EN"
# How often a subscribed phone should fetch the calendar again (RFC 7986 REFRESH-INTERVAL, and the
# X-PUBLISHED-TTL that Apple and Outlook read): a cancelled occurrence should reach it the same day.
REFRESH = timedelta(hours=6)
# VTIMEZONE definitions are spelled out transition by transition, this far past the calendar's start
# (beyond it a client keeps the last offset; most map the TZID to their own zone database anyway).
ZONE_YEARS = 10
# RFC 5545 weekday names, indexed by the Meeting Guide's day (0 = Sunday).
ICAL_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
CALENDAR_END = b"END:VCALENDAR\r\n"
# Meetings whose written events are kept (about a megabyte per thousand).
WRITTEN_MEETINGS = 20_000


def history_start(today: dt.date) -> dt.date:
    """Where a calendar's repeating events start: the first day of last month.

    A month of history stays on the phone, and the calendar's text changes only when a meeting
    does (or once a month), not at every refresh.
    """
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


@dataclass(frozen=True)
class Series:
    """One recurring event of a meeting: a weekly rule, a monthly rule, or a list of dates."""

    uid: str
    rule: rrule.rrule | None  # on naive wall-clock times from the calendar's start
    rrule: dict[str, list[str]] | None  # the same rule in RFC 5545 terms
    dates: tuple[dt.date, ...] = ()

    def gives(self, date: dt.date, time: dt.time) -> bool:
        if self.rule is None:
            return date in self.dates
        wall = datetime.combine(date, time)
        return self.rule.after(wall - timedelta(seconds=1)) == wall

    def walls(self, time: dt.time) -> Iterable[datetime]:
        if self.rule is None:
            return (datetime.combine(d, time) for d in self.dates)
        return iter(self.rule)


def _nth_weekday(date: dt.date, nth: int, day: int) -> bool:
    """Whether a date is the nth (or, for -1, the last) `day` of its month."""
    if (date.weekday() + 1) % 7 != day:
        return False
    if nth == -1:
        return (date + timedelta(days=7)).month != date.month
    return (date.day - 1) // 7 + 1 == nth


def series(meeting: Meeting, since: dt.date) -> list[Series]:
    """The meeting's rules as events that share no date, each starting at `since`."""
    listing = meeting.listing
    start = datetime.combine(since, listing.time)
    weekdays = listing.weekdays
    # Every nth weekday of a day the meeting already meets on each week is already in the weekly rule.
    monthly = [m for m in listing.monthly if m.day not in weekdays]

    def given_by_rule(date: dt.date) -> bool:
        return (date.weekday() + 1) % 7 in weekdays or any(_nth_weekday(date, m.nth, m.day) for m in monthly)

    found: list[Series] = []
    if weekdays:
        found.append(
            Series(
                "",
                rrule.rrule(rrule.WEEKLY, dtstart=start, byweekday=[rrule_weekday(d) for d in weekdays]),
                {"FREQ": ["WEEKLY"], "BYDAY": [ICAL_DAYS[d] for d in weekdays]},
            )
        )
    if monthly:
        found.append(
            Series(
                "monthly",
                rrule.rrule(
                    rrule.MONTHLY,
                    dtstart=start,
                    byweekday=[rrule_weekday(m.day)(m.nth) for m in monthly],
                ),
                {"FREQ": ["MONTHLY"], "BYDAY": [f"{m.nth}{ICAL_DAYS[m.day]}" for m in monthly]},
            )
        )
    dates = tuple(sorted(d for d in set(listing.dates) if d >= since and not given_by_rule(d)))
    if dates:
        found.append(Series("dates", None, None, dates))
    # The meeting's first kind of rule carries the meeting's own UID.
    return [
        Series(f"{meeting.id}{'-' + s.uid if i else ''}@{UID_DOMAIN}", s.rule, s.rrule, s.dates)
        for i, s in enumerate(found)
    ]


def location(listing: Listing) -> str | None:
    address = listing.formatted_address or ", ".join(
        part
        for part in (listing.address, listing.city, listing.state, listing.postal_code, listing.country)
        if part
    )
    where = ", ".join(part for part in (listing.location, address) if part)
    # An online-only meeting: its link is where it happens, and phones make a link in LOCATION tappable.
    return where or listing.conference_url or None


def details(listing: Listing, page: str) -> str:
    lines = [listing.notes, listing.location_notes]
    if listing.conference_url:
        lines.append(f"Join online: {listing.conference_url}")
        lines.append(listing.conference_url_notes)
    if listing.conference_phone:
        lines.append(f"Join by phone: {listing.conference_phone}")
        lines.append(listing.conference_phone_notes)
    if listing.group:
        lines.append(f"Group: {listing.group}")
    lines.append(f"Details: {page}")
    return "\n\n".join(line for line in lines if line)


@cache
def vtimezone(tzid: str, since: dt.date) -> icalendar.Timezone:
    return icalendar.Timezone.from_tzid(
        tzid, first_date=since - timedelta(days=7), last_date=since.replace(year=since.year + ZONE_YEARS)
    )


def _event(meeting: Meeting, uid: str, starts: datetime, page: str) -> icalendar.Event:
    listing = meeting.listing
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", meeting.updated.astimezone(dt.UTC))
    event.add("last-modified", meeting.updated.astimezone(dt.UTC))
    event.add("dtstart", starts)
    # DTEND on the wall clock too, so a meeting past midnight or over a change keeps its length as read.
    zone = ZoneInfo(listing.timezone)
    event.add("dtend", (starts.replace(tzinfo=None) + length(listing)).replace(tzinfo=zone))
    event.add("summary", listing.name)
    where = location(listing)
    if where:
        event.add("location", where)
    if listing.latitude is not None and listing.longitude is not None:
        event.add("geo", (listing.latitude, listing.longitude))
    event.add("url", page)
    event.add("description", details(listing, page))
    names = [type_names().get(code, code) for code in listing.types]
    if names:
        event.add("categories", names)
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")  # a meeting on the calendar does not make its reader busy
    return event


def events(meeting: Meeting, since: dt.date, public_url: str) -> list[icalendar.Event]:
    """The meeting's events: one per kind of rule, and one for each moved occurrence."""
    if meeting.cancelled:
        return []
    listing = meeting.listing
    zone = ZoneInfo(listing.timezone)
    page = f"{public_url.rstrip('/')}/find/{meeting.slug}"
    cancelled = set(meeting.cancelled_occurrences)
    found = []
    for s in series(meeting, since):
        # DTSTART is the series' first occurrence that is held (RFC 5545 counts DTSTART as an
        # occurrence whatever the rule says, so it must be one the rule gives).
        first = next((w for w in s.walls(listing.time) if w.date() not in cancelled), None)
        if first is None:
            continue
        event = _event(meeting, s.uid, place(first, zone), page)
        if s.rrule is not None:
            event.add("rrule", s.rrule)
        elif len(s.dates) > 1:
            event.add("rdate", [place(w, zone) for w in s.walls(listing.time) if w != first])
        exdates = sorted(d for d in cancelled if d > first.date() and s.gives(d, listing.time))
        if exdates:
            event.add("exdate", [place(datetime.combine(d, listing.time), zone) for d in exdates])
        found.append(event)
        for moved in meeting.moved:
            if moved.occurrence in cancelled or moved.occurrence < first.date():
                continue
            if not s.gives(moved.occurrence, listing.time):
                continue
            override = _event(meeting, s.uid, place(moved.to, zone), page)
            override.add("recurrence-id", place(datetime.combine(moved.occurrence, listing.time), zone))
            found.append(override)
    return found


def calendar(
    meetings: Iterable[Meeting],
    *,
    name: str,
    url: str,
    public_url: str,
    since: dt.date,
    description: str | None = None,
) -> bytes:
    """A calendar of the meetings' occurrences from `since` on, for a phone to subscribe to at `url`."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    if description:
        cal.add("description", description)
        cal.add("x-wr-caldesc", description)
    cal.add("source", url, parameters={"VALUE": "URI"})
    cal.add("url", url)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", f"PT{REFRESH // timedelta(hours=1)}H")
    zones: set[str] = set()
    texts = []
    for meeting in meetings:
        text = events_text(meeting, since, public_url)
        if text:
            zones.add(meeting.listing.timezone)
            texts.append(text)
    # VTIMEZONEs come first, as clients read them before the events that name them.
    for tzid in sorted(zones):
        cal.add_component(vtimezone(tzid, since))
    head: bytes = cal.to_ical()
    # The events are spliced in already written: writing them is most of a calendar's cost.
    return head.removesuffix(CALENDAR_END) + b"".join(texts) + CALENDAR_END


class _Written:
    """The text of each meeting's events, as last written, for as long as the meeting is unchanged.

    Writing a meeting takes icalendar about 1.5 ms, so an organization's 1,000 meetings take seconds
    at every refresh of every subscribed phone; the meetings rarely change between two refreshes.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.texts: OrderedDict[tuple[str, dt.date, str], bytes] = OrderedDict()
        self.lock = threading.Lock()  # calendars are written off the event loop, several at once

    def get(self, meeting: Meeting, since: dt.date, public_url: str) -> bytes:
        # Everything the text is made of; `updated` alone is kept to the second, so two changes in
        # one second would share it.
        state = (
            meeting.id,
            meeting.slug,
            meeting.status,
            meeting.listing.model_dump_json(),
            meeting.cancelled_occurrences,
            meeting.moved,
            meeting.updated,
        )
        key = (repr(state), since, public_url)
        with self.lock:
            text = self.texts.get(key)
            if text is not None:
                self.texts.move_to_end(key)
                return text
        text = b"".join(e.to_ical() for e in events(meeting, since, public_url))
        with self.lock:
            self.texts[key] = text
            if len(self.texts) > self.size:
                self.texts.popitem(last=False)
        return text


@cache
def _written() -> _Written:
    return _Written(WRITTEN_MEETINGS)


def events_text(meeting: Meeting, since: dt.date, public_url: str) -> bytes:
    """The meeting's events as iCalendar text, written once per version of the meeting."""
    return _written().get(meeting, since, public_url)
