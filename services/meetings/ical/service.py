"""Calendar use cases: find the meetings, then write them as a calendar (ical/model.py)."""

import datetime as dt
from collections.abc import Iterable
from datetime import UTC, datetime

from services.meetings import directory, service, store
from services.meetings.ical import model
from services.meetings.model import Meeting
from services.meetings.settings import Settings
from services.meetings.store import Db
from shared.network import Organization


def today() -> dt.date:
    return datetime.now(UTC).date()


def write(meetings: Iterable[Meeting], settings: Settings, path: str, name: str, about: str) -> bytes:
    public_url = settings.public_url.rstrip("/")
    return model.calendar(
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
    return write([meeting], settings, path, meeting.listing.name, about)


async def organization_calendar(db: Db, settings: Settings, org: Organization, path: str) -> bytes:
    meetings = await store.org_meetings(db, org.id)
    return write(meetings, settings, path, f"{org.name} meetings", f"The meetings {org.name} lists")


def search_calendar(
    found: directory.Directory, settings: Settings, query: directory.Query, path: str
) -> bytes:
    """The meetings one page of a directory search finds, as the JSON search would list them."""
    hits = found.search(query, datetime.now(UTC)).hits
    name = "Recovery meetings"
    return write([h.meeting for h in hits], settings, path, name, "Meetings found in the directory")
