"""Meetings as iCalendar: one meeting, an organization's meetings, or any directory search.

Public and without sign-in, like the directory they come from: a phone subscribes to a calendar by
its URL (webcal://) and cannot send a token.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.meetings.api import Slug
from services.meetings.deps import Db, ListedOrganization, MeetingsSettings, ReadyDirectory
from services.meetings.directory_api import Search
from services.meetings.ical import service
from shared.http import PROBLEM_JSON, PROBLEM_SCHEMA

router = APIRouter(tags=["calendars"])


class CalendarResponse(Response):
    # Starlette adds "; charset=utf-8" to a text/ type.
    media_type = "text/calendar"


def calendar_responses(problems: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {"text/calendar": {"schema": {"type": "string"}}},
            "description": "an iCalendar (RFC 5545) calendar to subscribe to or import",
        },
        # Spelled out: `model` would be documented in the route's own media type, text/calendar.
        **{
            status: {"description": why, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
            for status, why in problems.items()
        },
    }


def answer(body: bytes, filename: str) -> CalendarResponse:
    return CalendarResponse(
        body,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # Public data, read by calendar clients every few hours: a shared cache may keep it briefly.
            "Cache-Control": "public, max-age=300",
        },
    )


@router.get(
    "/directory/meetings/{slug}/calendar.ics",
    response_class=CalendarResponse,
    responses=calendar_responses({404: "no such meeting"}),
)
async def read_meeting_calendar(
    request: Request, slug: Slug, db: Db, settings: MeetingsSettings
) -> CalendarResponse:
    """One meeting as a calendar: its repeats, cancelled occurrences and moved ones."""
    body = await service.meeting_calendar(db, settings, slug, request.url.path)
    return answer(body, f"{slug}.ics")


@router.get(
    "/feeds/{org}/calendar.ics",
    response_class=CalendarResponse,
    responses=calendar_responses({404: "no such organization", 503: "the directory is still loading"}),
)
async def read_organization_calendar(
    request: Request, organization: ListedOrganization, directory: ReadyDirectory, settings: MeetingsSettings
) -> CalendarResponse:
    """An organization's active meetings as a calendar."""
    body = await service.organization_calendar(directory, settings, organization, request.url.path)
    return answer(body, f"{organization.id}.ics")


@router.get(
    "/directory/calendar.ics",
    response_class=CalendarResponse,
    responses=calendar_responses({503: "the directory is still loading"}),
)
async def read_search_calendar(
    request: Request, params: Search, directory: ReadyDirectory, settings: MeetingsSettings
) -> CalendarResponse:
    """A directory search (parameters as in GET /directory/meetings) as a calendar of all it finds."""
    path = f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path
    paged = "limit" in request.query_params or "offset" in request.query_params
    body = await service.search_calendar(directory, settings, params.query(), path, paged=paged)
    return answer(body, "meetings.ics")
