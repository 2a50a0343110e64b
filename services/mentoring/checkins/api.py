"""Check-in routes: a pair's cadence, a member's check-ins, their mentor's reading of them, and the
organization's craving alert threshold.

Check-ins are the member's and their current mentor's: anybody else (another mentor, a coordinator,
another organization) gets a 404.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from services.mentoring.checkins import model, service
from services.mentoring.checkins.model import Cadence, CheckIn
from services.mentoring.deps import (
    Caller,
    Db,
    MatchId,
    Member,
    MentoringSettings,
    OrgAdmin,
    Publisher,
    problems,
)
from shared.auth.principal import Role
from shared.crypto import Sealer
from shared.http import Problem
from shared.inputs import Strict

router = APIRouter(tags=["check-ins"])

NO_MATCH = "no active match of yours with this id"
NO_MENTOR = "you have no active mentor (a check-in saying you need help is always taken)"
NOT_PARTY = "only the member or the mentor of a match"


def _sealer(request: Request) -> Sealer:
    return request.app.state.notes_sealer  # type: ignore[no-any-return]


NotesSealer = Annotated[Sealer, Depends(_sealer)]
Limit = Annotated[int, Query(ge=1, le=500)]


class CadenceUpdate(Strict):
    cadence: Cadence = Field(
        description="daily (every day), several_weekly (every 2 days), weekly (every 7 days)"
    )


class CadencePublic(BaseModel):
    match_id: str
    cadence: Cadence
    next_due_at: datetime


class CheckInCreate(Strict):
    mood: int = Field(
        ge=model.MOOD_MIN, le=model.MOOD_MAX, description="1 very low, 2 low, 3 okay, 4 good, 5 very good"
    )
    craving: int = Field(ge=model.CRAVING_MIN, le=model.CRAVING_MAX, description="0 none to 10 strongest")
    note: str | None = Field(
        default=None, max_length=model.NOTE_MAX, description="for you and your mentor; encrypted at rest"
    )
    need_help_now: bool = False


class CheckInPublic(BaseModel):
    id: str
    match_id: str | None = Field(description="none for a request for help made with no active mentor")
    member_id: str
    at: datetime
    mood: int
    craving: int
    need_help_now: bool
    note: str | None


class CheckInRecorded(CheckInPublic):
    next_due_at: datetime | None = Field(description="the next check-in with your mentor, if you have one")
    help_requested: bool = Field(description="a crisis responder was asked to reach out")
    next_steps: str | None = Field(description="what happens now, when help was requested")


class CheckInSettings(Strict):
    craving_alert_threshold: int = Field(
        ge=model.THRESHOLD_MIN,
        le=model.THRESHOLD_MAX,
        description="a craving at or above this asks crisis to reach out",
    )


def public(c: CheckIn) -> CheckInPublic:
    return CheckInPublic(
        id=c.id,
        match_id=c.match_id,
        member_id=c.member_id,
        at=c.at,
        mood=c.mood,
        craving=c.craving,
        need_help_now=c.need_help_now,
        note=c.note,
    )


@router.put("/mentoring/matches/{match_id}/cadence", responses=problems({403: NOT_PARTY, 404: NO_MATCH}))
async def update_cadence(
    match_id: MatchId, body: CadenceUpdate, caller: Caller, db: Db, settings: MentoringSettings
) -> CadencePublic:
    """Agree how often the pair checks in (the member or the mentor of the active match)."""
    if not caller.has_any(Role.MEMBER, Role.MENTOR):
        raise Problem(403, "Forbidden", "requires one of the roles: member, mentor")
    pair = await service.set_cadence(
        db, settings, caller.org, caller.sub, match_id, body.cadence, service.utcnow()
    )
    return CadencePublic(match_id=pair.match_id, cadence=pair.cadence, next_due_at=pair.due_at)


@router.post("/mentoring/check-ins", status_code=201, responses=problems({409: NO_MENTOR}))
async def create_check_in(
    body: CheckInCreate,
    caller: Member,
    db: Db,
    publisher: Publisher,
    settings: MentoringSettings,
    sealer: NotesSealer,
) -> CheckInRecorded:
    """Check in with your mentor; "I need help now" or a strong craving asks crisis to reach out, always."""
    recorded = await service.record_check_in(
        db,
        publisher,
        settings,
        sealer,
        org=caller.org,
        member_id=caller.sub,
        mood=body.mood,
        craving=body.craving,
        note=body.note,
        need_help_now=body.need_help_now,
        now=service.utcnow(),
    )
    return CheckInRecorded(
        **dict(public(recorded.check_in)),
        next_due_at=recorded.next_due_at,
        help_requested=recorded.alerted,
        next_steps=model.NEXT_STEPS if recorded.alerted else None,
    )


@router.get("/mentoring/check-ins")
async def list_my_check_ins(
    caller: Member, db: Db, sealer: NotesSealer, limit: Limit = 100
) -> list[CheckInPublic]:
    """Your own check-ins, newest first."""
    return [public(c) for c in await service.member_check_ins(db, sealer, caller.org, caller.sub, limit)]


@router.get("/mentoring/matches/{match_id}/check-ins", responses=problems({404: NO_MATCH}))
async def list_mentee_check_ins(
    match_id: MatchId,
    caller: Caller,
    db: Db,
    settings: MentoringSettings,
    sealer: NotesSealer,
    limit: Limit = 100,
) -> list[CheckInPublic]:
    """Your mentee's check-ins in this match, newest first (the mentor of the active match only)."""
    found = await service.mentee_check_ins(db, settings, sealer, caller.org, caller.sub, match_id, limit)
    return [public(c) for c in found]


@router.get("/mentoring/settings/check-ins")
async def read_check_in_settings(caller: OrgAdmin, db: Db, settings: MentoringSettings) -> CheckInSettings:
    """Your organization's check-in settings."""
    return CheckInSettings(craving_alert_threshold=await service.craving_threshold(db, settings, caller.org))


@router.put("/mentoring/settings/check-ins", status_code=204)
async def update_check_in_settings(body: CheckInSettings, caller: OrgAdmin, db: Db) -> Response:
    """Set the craving at or above which a check-in asks crisis to reach out."""
    await service.set_craving_threshold(db, caller.org, body.craving_alert_threshold)
    return Response(status_code=204)
