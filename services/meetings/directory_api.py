"""The public directory over HTTP: search the network's meetings, and one meeting's details.

Public by design (DESIGN.md section 1): anyone looking for a meeting finds every organization's
meetings, and which organization lists each. Nothing about who attends or saved a meeting is here.
"""

import datetime as dt
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.meetings import directory, recurrence, service
from services.meetings.api import MeetingPublic, Slug, public
from services.meetings.deps import Db, ready_directory
from services.meetings.directory import Hit
from services.meetings.model import Meeting
from shared.http import Problem, ProblemDetails
from shared.inputs import Text, TimeOfDay, TimeZone
from shared.network import NetworkFile

router = APIRouter(tags=["directory"])
UPCOMING = 8

Attendance = Literal["in_person", "online", "hybrid"]
TypeCode = Annotated[str, Query(max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]


@dataclass
class SearchParams:
    """The directory's search parameters, validated once for the JSON search, the calendar and the page."""

    day: Annotated[int | None, Query(ge=0, le=6, description="0 = Sunday, in the meeting's own calendar")] = (
        None
    )
    time_from: Annotated[TimeOfDay | None, Query(description='"HH:MM", the meeting\'s wall-clock')] = None
    time_to: Annotated[TimeOfDay | None, Query(description='"HH:MM", the meeting\'s wall-clock')] = None
    starting_within_hours: Annotated[
        float | None, Query(gt=0, le=168, description="starting between now and this many hours from now")
    ] = None
    tz: Annotated[
        TimeZone | None,
        Query(max_length=64, description="the searcher's IANA time zone (for the times shown)"),
    ] = None
    types: Annotated[
        list[TypeCode] | None, Query(max_length=10, description="Meeting Guide codes, all of them")
    ] = None
    region: Annotated[Text | None, Query(max_length=100)] = None
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None
    radius_km: Annotated[float, Query(gt=0, le=500)] = 25.0
    attendance: Annotated[list[Attendance] | None, Query(max_length=3, description="any of them")] = None
    language: Annotated[
        str | None, Query(max_length=10, pattern=r"^[A-Za-z-]+$", description="e.g. EN, S")
    ] = None
    q: Annotated[Text | None, Query(max_length=100, description="words in the name, place or notes")] = None
    limit: Annotated[int, Query(ge=1, le=100)] = 20
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0

    def query(self) -> directory.Query:
        if (self.latitude is None) != (self.longitude is None):
            raise Problem(422, "Unprocessable Content", "latitude and longitude go together")
        near = None
        if self.latitude is not None and self.longitude is not None:
            near = (self.latitude, self.longitude, self.radius_km)
        within = timedelta(hours=self.starting_within_hours) if self.starting_within_hours else None
        return directory.Query(
            day=self.day,
            time_from=self.time_from,
            time_to=self.time_to,
            starting_within=within,
            types=frozenset(self.types or ()),
            region=self.region,
            near=near,
            attendance=frozenset(self.attendance or ()),
            language=self.language,
            text=self.q,
            limit=self.limit,
            offset=self.offset,
        )


Search = Annotated[SearchParams, Depends()]


class Occurrence(BaseModel):
    date: dt.date
    starts_at: datetime
    ends_at: datetime
    cancelled: bool
    moved: bool


class DirectoryMeeting(MeetingPublic):
    org_name: str = Field(description="the organization that lists the meeting")
    next_start: datetime | None = Field(description="the next occurrence's start (searcher's zone, if given)")
    distance_km: float | None = Field(description="from the searched point, when searching by one")


class DirectoryMeetingDetail(DirectoryMeeting):
    upcoming: list[Occurrence]


class DirectoryPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DirectoryMeeting]


def org_name(request: Request, org: str) -> str:
    network: NetworkFile = request.app.state.network
    found = network.get().organization(org)
    return found.name if found else org


def shown(request: Request, hit: Hit, tz: str | None) -> DirectoryMeeting:
    if hit.entry.shown is None:  # validated once per version of the meeting, not once per search
        hit.entry.shown = dict(public(hit.meeting))
    next_start = hit.next_start
    if next_start is not None:
        next_start = next_start.astimezone(ZoneInfo(tz or hit.meeting.listing.timezone))
    distance = round(hit.distance_km, 2) if hit.distance_km is not None else None
    return DirectoryMeeting.model_construct(
        **hit.entry.shown,  # type: ignore[arg-type]
        org_name=org_name(request, hit.meeting.org),
        next_start=next_start,
        distance_km=distance,
    )


async def run_search(request: Request, params: SearchParams) -> DirectoryPage:
    """One page of the directory for these parameters, soonest first (nearest first by a point)."""
    found = (await ready_directory(request)).search(params.query(), datetime.now(UTC))
    items = [shown(request, hit, params.tz) for hit in found.hits]
    return DirectoryPage(total=found.total, limit=params.limit, offset=params.offset, items=items)


def upcoming(meeting: Meeting, count: int = UPCOMING) -> list[Occurrence]:
    now = datetime.now(UTC)
    found = recurrence.occurrences(meeting, now, now + timedelta(days=400))[:count]
    return [Occurrence(**vars(o)) for o in found]


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ProblemDetails, "description": "the directory is still loading"}
}


@router.get("/directory/meetings", responses=UNAVAILABLE)
async def search_meetings(request: Request, params: Search) -> DirectoryPage:
    """Search the network's meetings: day, time, type, region, distance, attendance, language, text."""
    return await run_search(request, params)


@router.get(
    "/directory/meetings/{slug}",
    responses={404: {"model": ProblemDetails, "description": "no such meeting"}},
)
async def read_directory_meeting(request: Request, slug: Slug, db: Db) -> DirectoryMeetingDetail:
    """One meeting of the directory by its slug, with its next occurrences (cancelled ones marked)."""
    meeting = await service.public_meeting(db, slug)
    next_ones = upcoming(meeting)
    first = next((o.starts_at for o in next_ones if not o.cancelled), None)
    return DirectoryMeetingDetail(
        **dict(public(meeting)),
        org_name=org_name(request, meeting.org),
        next_start=first,
        distance_km=None,
        upcoming=next_ones,
    )
