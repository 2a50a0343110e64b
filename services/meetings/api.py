"""Meetings HTTP routes: an organization's meetings (its admins), and the members' saved meetings.

Field names follow the Meeting Guide feed format. The public directory is in directory_api.py.
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel, Field

from contracts.meetings import AttendanceOption
from services.meetings import model, service
from services.meetings.deps import Caller, Db, OrgAdmin, Publisher
from services.meetings.model import Listing, Meeting
from shared.http import ProblemDetails
from shared.inputs import Strict, WallTime

router = APIRouter(tags=["meetings"])

MeetingId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Slug = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.~-]+$")]
# Occurrences are worked out around their date: one near the calendar's ends would overflow (a 500).
OCCURRENCE_YEARS = 50


def _occurrence_in_range(value: dt.date) -> dt.date:
    today = dt.date.today()
    if abs(value.year - today.year) > OCCURRENCE_YEARS:
        raise ValueError(f"must be within {OCCURRENCE_YEARS} years of today")
    return value


OccurrenceDate = Annotated[
    dt.date,
    Path(description="the occurrence's date on the meeting's calendar"),
    AfterValidator(_occurrence_in_range),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemDetails, "description": "no such meeting"}
}
CHANGES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"model": ProblemDetails, "description": "the meeting is cancelled"},
}


class MovedPublic(BaseModel):
    occurrence: dt.date
    to: dt.datetime = Field(description="wall-clock time in the meeting's time zone")


class MeetingPublic(Listing):
    """A meeting as the network lists it: its Meeting Guide fields and what the network keeps about it."""

    id: str
    org: str = Field(description="the organization that lists the meeting")
    slug: str
    status: str = Field(description="active or cancelled")
    updated: str = Field(description='UTC, "YYYY-MM-DD HH:MM:SS" as in the Meeting Guide format')
    attendance_option: AttendanceOption
    cancelled_occurrences: list[dt.date]
    moved: list[MovedPublic]


class MeetingCreated(MeetingPublic):
    unknown_types: list[str] = Field(
        description="type codes outside the Meeting Guide list: kept, but reported"
    )


class OccurrenceMove(Strict):
    to: WallTime = Field(description="the new start, wall-clock in the meeting's time zone")


def public(m: Meeting) -> MeetingPublic:
    return MeetingPublic.model_validate(
        {
            **dict(m.listing),
            "id": m.id,
            "org": m.org,
            "slug": m.slug,
            "status": m.status,
            "updated": m.updated.strftime(model.UPDATED_FORMAT),
            "attendance_option": model.attendance_option(m.listing),
            "cancelled_occurrences": list(m.cancelled_occurrences),
            "moved": [MovedPublic(occurrence=x.occurrence, to=x.to) for x in m.moved],
        }
    )


@router.post("/meetings", status_code=201)
async def create_meeting(body: Listing, caller: OrgAdmin, db: Db, publisher: Publisher) -> MeetingCreated:
    """Schedule a meeting for the caller's organization."""
    meeting = await service.create_meeting(db, publisher, caller.org, body)
    return MeetingCreated(**dict(public(meeting)), unknown_types=model.unknown_types(meeting.listing.types))


@router.get("/meetings/{meeting_id}", responses=NOT_FOUND)
async def get_meeting(meeting_id: MeetingId, caller: Caller, db: Db) -> MeetingPublic:
    """One meeting of the caller's organization, cancelled or not."""
    return public(await service.get_meeting(db, caller.org, meeting_id))


@router.put("/meetings/{meeting_id}", responses=CHANGES)
async def update_meeting(
    meeting_id: MeetingId, body: Listing, caller: OrgAdmin, db: Db, publisher: Publisher
) -> MeetingPublic:
    """Replace a meeting's listing; the members who saved it are told what changed."""
    return public(await service.update_meeting(db, publisher, caller.org, meeting_id, body))


@router.post("/meetings/{meeting_id}/cancel", responses=NOT_FOUND)
async def cancel_meeting(
    meeting_id: MeetingId, caller: OrgAdmin, db: Db, publisher: Publisher
) -> MeetingPublic:
    """Cancel a meeting for good; the members who saved it are told."""
    return public(await service.cancel_meeting(db, publisher, caller.org, meeting_id))


@router.post(
    "/meetings/{meeting_id}/occurrences/{occurrence}/cancel",
    responses={**CHANGES, 422: {"model": ProblemDetails, "description": "no occurrence that day"}},
)
async def cancel_occurrence(
    meeting_id: MeetingId, occurrence: OccurrenceDate, caller: OrgAdmin, db: Db, publisher: Publisher
) -> MeetingPublic:
    """Cancel one occurrence; the members who saved the meeting are told."""
    return public(await service.cancel_occurrence(db, publisher, caller.org, meeting_id, occurrence))


@router.post(
    "/meetings/{meeting_id}/occurrences/{occurrence}/move",
    responses={**CHANGES, 422: {"model": ProblemDetails, "description": "no occurrence that day"}},
)
async def move_occurrence(
    meeting_id: MeetingId,
    occurrence: OccurrenceDate,
    body: OccurrenceMove,
    caller: OrgAdmin,
    db: Db,
    publisher: Publisher,
) -> MeetingPublic:
    """Hold one occurrence at another time (within a week of its date)."""
    return public(await service.move_occurrence(db, publisher, caller.org, meeting_id, occurrence, body.to))


@router.put("/me/saved-meetings/{meeting_id}", status_code=204, responses=NOT_FOUND)
async def save_meeting(meeting_id: MeetingId, caller: Caller, db: Db) -> None:
    """Save a meeting of your organization: you are told when it changes or is cancelled."""
    await service.save_meeting(db, caller.org, caller.sub, meeting_id)


@router.delete("/me/saved-meetings/{meeting_id}", status_code=204)
async def unsave_meeting(meeting_id: MeetingId, caller: Caller, db: Db) -> None:
    """Stop following a meeting."""
    await service.unsave_meeting(db, caller.org, caller.sub, meeting_id)


@router.get("/me/saved-meetings")
async def list_saved_meetings(caller: Caller, db: Db) -> list[MeetingPublic]:
    """The meetings you saved."""
    return [public(m) for m in await service.saved_meetings(db, caller.org, caller.sub)]
