"""Mentoring HTTP routes."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from contracts.ids import new_id
from services.mentoring import model, service
from services.mentoring.deps import Db, Member, OrgAdmin, Publisher
from shared.auth.fastapi import CurrentPrincipal
from shared.auth.principal import Role
from shared.http import NotFound
from shared.inputs import Strict

router = APIRouter(tags=["mentoring"])

Lang = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
Focus = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")]


class MentorUpdate(Strict):
    capacity: int = Field(ge=1, le=20)
    languages: list[Lang] = Field(default_factory=lambda: ["en"], min_length=1, max_length=10)
    focus: list[Focus] = Field(default_factory=list, max_length=20)
    accepting: bool = True


class MentorPublic(BaseModel):
    mentor_id: str
    capacity: int
    active_mentees: int
    languages: list[str]
    focus: list[str]
    accepting: bool


class MentorRequestCreate(Strict):
    languages: list[Lang] = Field(default_factory=lambda: ["en"], min_length=1, max_length=10)
    focus: list[Focus] = Field(default_factory=list, max_length=20)


class MentorRequestPublic(BaseModel):
    id: str
    status: Literal["proposed", "waiting"]
    match_id: str | None = None
    mentor_id: str | None = None
    score: float | None = None


@router.put("/mentors/{mentor_id}")
async def update_mentor(
    mentor_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")],
    body: MentorUpdate,
    caller: OrgAdmin,
    db: Db,
) -> MentorPublic:
    """Register a mentor of the caller's organization, or change their capacity and focus."""
    mentor = await service.register_mentor(
        db,
        model.Mentor(
            mentor_id=mentor_id,
            org=caller.org,
            capacity=body.capacity,
            languages=tuple(body.languages),
            focus=tuple(body.focus),
            accepting=body.accepting,
        ),
    )
    return MentorPublic(**{k: getattr(mentor, k) for k in MentorPublic.model_fields})


@router.get("/mentors/{mentor_id}")
async def read_mentor(
    mentor_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")], caller: OrgAdmin, db: Db
) -> MentorPublic:
    """A mentor of the caller's organization: capacity, current mentees, focus (org admins)."""
    mentor = await service.get_mentor(db, caller.org, mentor_id)
    if mentor is None:
        raise NotFound("mentor")
    return MentorPublic(**{k: getattr(mentor, k) for k in MentorPublic.model_fields})


@router.post("/mentoring/requests", status_code=201)
async def create_mentor_request(
    body: MentorRequestCreate, caller: Member, db: Db, publisher: Publisher
) -> MentorRequestPublic:
    """Ask for a mentor: the best available one in the caller's organization is proposed."""
    request = model.MentorRequest(
        id=new_id(),
        org=caller.org,
        member_id=caller.sub,
        languages=tuple(body.languages),
        focus=tuple(body.focus),
    )
    match = await service.request_mentor(db, publisher, request)
    if match is None:
        return MentorRequestPublic(id=request.id, status="waiting")
    return MentorRequestPublic(
        id=request.id, status="proposed", match_id=match.id, mentor_id=match.mentor_id, score=match.score
    )


@router.get("/mentoring/requests/{request_id}")
async def read_mentor_request(
    request_id: Annotated[str, Path(max_length=64)], caller: CurrentPrincipal, db: Db
) -> MentorRequestPublic:
    """One request: its member and the organization's admins may read it."""
    doc = await service.get_request(db, caller.org, request_id)
    if doc is None or (doc["member_id"] != caller.sub and not caller.has_any(Role.ORG_ADMIN)):
        raise NotFound("request")
    return MentorRequestPublic(
        id=doc["_id"],
        status=doc["status"],
        match_id=doc.get("match_id"),
        mentor_id=doc.get("mentor_id"),
        score=doc.get("score"),
    )
