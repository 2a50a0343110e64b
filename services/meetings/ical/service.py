"""Calendar use cases: find the meetings, then write them as a calendar (ical/model.py)."""

import asyncio
import datetime as dt
from dataclasses import replace
from datetime import UTC, datetime

from services.meetings import directory, service
from services.meetings.ical import model
from services.meetings.model import Meeting
from services.meetings.settings import Settings
from services.meetings.store import Db
from shared.network import Organization

# A search's calendar holds at most this many meetings (a city's whole directory is a few hundred).
SEARCH_CALENDAR_MEETINGS = 500


def today() -> dt.date:
    return datetime.now(UTC).date()


async def write(meetings: list[Meeting], settings: Settings, path: str, name: str, about: str) -> bytes:
    """The calendar, written on a worker thread: a large organization's takes a second the first time,
    which would hold up every other request of the service."""
    public_url = settings.public_url.rstrip("/")
    return await asyncio.to_thread(
        model.calendar,
        meetings,
        name=name,
        url=f"{public_url}{path}",
        public_url=public_url,
        since=model.history_start(today()),
        description=about,
    )


async def meeting_calendar(db: Db, settings: Settings, slug: str, path: str) -> bytes:
    """One meeting's calendar; a cancelled meeting's is empty, so a phone subscribed to it drops it."""
    meeting = await service.public_meeting(db, slug)
    about = f"{meeting.listing.name}: every occurrence, with cancellations and changes"
    return await write([meeting], settings, path, meeting.listing.name, about)


async def organization_calendar(
    found: directory.Directory, settings: Settings, org: Organization, path: str
) -> bytes:
    """An organization's active meetings, from the directory: phones refresh it, and reading it from the
    local store would scan every meeting of the network each time."""
    meetings = found.meetings(org.id)
    return await write(meetings, settings, path, f"{org.name} meetings", f"The meetings {org.name} lists")


async def search_calendar(
    found: directory.Directory, settings: Settings, query: directory.Query, path: str, *, paged: bool
) -> bytes:
    """The meetings a directory search finds: all of them (up to a bound) unless a page is asked for.

    The search lists the soonest first, so its first page changes by the hour; a subscribed calendar
    holding only that page would gain and lose meetings at every refresh.
    """
    if not paged:
        query = replace(query, limit=SEARCH_CALENDAR_MEETINGS, offset=0)
    hits = found.search(query, datetime.now(UTC)).hits
    meetings = sorted((h.meeting for h in hits), key=lambda m: m.id)
    return await write(meetings, settings, path, "Recovery meetings", "Meetings found in the directory")
