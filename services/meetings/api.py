"""Meetings HTTP routes. Field names follow the Meeting Guide feed format."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AnyHttpUrl, BaseModel, Field, model_validator

from contracts.ids import new_id
from services.meetings import model, service, store
from services.meetings.deps import Db, OrgAdmin, Publisher
from shared.inputs import Strict, Text, TimeOfDay, TimeZone

router = APIRouter(tags=["meetings"])

TypeCode = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]


class MeetingCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    day: int = Field(ge=0, le=6, description="0 = Sunday")
    time: TimeOfDay
    end_time: TimeOfDay | None = None
    timezone: TimeZone = Field(description="IANA time zone, e.g. America/Chicago")
    types: list[TypeCode] = Field(default_factory=list, max_length=30)
    formatted_address: str | None = Field(default=None, max_length=300)
    conference_url: AnyHttpUrl | None = None
    notes: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _somewhere(self) -> "MeetingCreate":
        if not self.formatted_address and not self.conference_url:
            raise ValueError("a meeting needs a formatted_address, a conference_url, or both")
        return self


class MeetingPublic(BaseModel):
    id: str
    org: str
    name: str
    slug: str
    day: int
    time: str
    end_time: str | None
    timezone: str
    types: list[str]
    formatted_address: str | None
    conference_url: str | None
    notes: str | None
    updated: str | None


class MeetingCreated(MeetingPublic):
    unknown_types: list[str] = Field(
        description="type codes outside the Meeting Guide list: kept, but reported"
    )


def _public(m: model.Meeting) -> MeetingPublic:
    return MeetingPublic(
        id=m.id,
        org=m.org,
        name=m.name,
        slug=m.slug,
        day=m.day,
        time=m.time.strftime("%H:%M"),
        end_time=m.end_time.strftime("%H:%M") if m.end_time else None,
        timezone=m.timezone,
        types=m.types,
        formatted_address=m.formatted_address,
        conference_url=m.conference_url,
        notes=m.notes,
        updated=m.updated.strftime("%Y-%m-%d %H:%M:%S") if m.updated else None,
    )


@router.post("/meetings", status_code=201)
async def create_meeting(
    body: MeetingCreate, caller: OrgAdmin, db: Db, publisher: Publisher
) -> MeetingCreated:
    """Schedule a weekly meeting for the caller's organization."""
    meeting = model.Meeting(
        id=new_id(),
        org=caller.org,
        name=body.name,
        slug=model.slugify(body.name),
        day=body.day,
        time=body.time.replace(second=0, microsecond=0),
        end_time=body.end_time,
        timezone=body.timezone,
        types=body.types,
        formatted_address=body.formatted_address,
        conference_url=str(body.conference_url) if body.conference_url else None,
        notes=body.notes,
        updated=datetime.now(UTC).replace(microsecond=0),
    )
    await service.create_meeting(db, publisher, meeting)
    return MeetingCreated(**_public(meeting).model_dump(), unknown_types=model.unknown_types(meeting.types))


@router.get("/meetings")
async def list_meetings(
    db: Db,
    day: Annotated[int | None, Query(ge=0, le=6, description="0 = Sunday")] = None,
    type: Annotated[Text | None, Query(max_length=20, description="a Meeting Guide type code")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    # Bounded: the store takes 64-bit numbers only, and no directory is paged that far.
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[MeetingPublic]:
    """The network's public meeting directory, by day and time."""
    found = await store.directory(db, day=day, type_code=type, limit=limit, skip=offset)
    return [_public(m) for m in found]
