"""Milestone routes: a member's own recovery date, time zone and who hears of their milestones.

Only the member reads or changes it (a recovery date is theirs; no mentor or coordinator route shows
it). A mentor learns of a milestone only through `MilestoneReached`, when the member chose to tell
them, and sees the next one coming up in their view of mentees who chose so.
"""

import datetime as dt

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from services.mentoring.deps import Db, Member, problems
from services.mentoring.milestones import service
from services.mentoring.milestones.model import Audience, Milestone
from shared.http import NotFound
from shared.inputs import CalendarDate, Strict, TimeZone

router = APIRouter(tags=["milestones"])

NOT_SET = "you have not set a recovery date"
SHARING_RESET = (
    "a new recovery date keeps your milestones to yourself until you choose again: send this date "
    "again with share_with to tell your mentor or group"
)


class RecoveryUpdate(Strict):
    recovery_date: CalendarDate = Field(description="your own local date, not after today there")
    time_zone: TimeZone = Field(
        description="IANA name, e.g. America/Chicago: milestones come at your midnight"
    )
    share_with: Audience = Field(
        default="nobody",
        description="who hears of your milestones: nobody, your mentor, or your group (your mentor and "
        "their other mentees)",
    )


class MilestonePublic(BaseModel):
    milestone: str = Field(description="24h, 30d, 60d, 90d, 6m, 9m, 1y, 18m, 2y ...")
    reached_on: dt.date = Field(description="your own local date")


class NextMilestone(MilestonePublic):
    announced_at: dt.datetime = Field(description="the start of that date in your time zone")


class RecoveryPublic(BaseModel):
    recovery_date: dt.date
    time_zone: str
    share_with: Audience = Field(
        description="who hears of your milestones now: a new date after an earlier one puts this back "
        'to "nobody" (send the same date again with your choice)'
    )
    note: str | None = Field(default=None, description="why share_with is not what you asked for")
    days: int = Field(description="days since your recovery date, by your own calendar")
    reached: list[MilestonePublic] = Field(description="the milestones behind you, oldest first")
    next: NextMilestone | None


def _public(m: Milestone) -> MilestonePublic:
    return MilestonePublic(milestone=m.code, reached_on=m.reached_on)


def answer(r: service.Recovery) -> RecoveryPublic:
    return RecoveryPublic(
        recovery_date=r.recovery_date,
        time_zone=r.time_zone,
        share_with=r.share_with,
        days=(r.today - r.recovery_date).days,
        reached=[_public(m) for m in r.reached],
        next=None
        if r.next is None
        else NextMilestone(
            milestone=r.next.milestone.code, reached_on=r.next.milestone.reached_on, announced_at=r.next.at
        ),
    )


@router.put(
    "/mentoring/me/recovery",
    responses=problems({422: "the date is after today in that time zone, or the time zone is unknown"}),
)
async def set_my_recovery(body: RecoveryUpdate, caller: Member, db: Db) -> RecoveryPublic:
    """Set your recovery date (a new date starts your milestones again, privately), time zone and audience."""
    found = await service.set_recovery(
        db, caller.org, caller.sub, body.recovery_date, body.time_zone, body.share_with, service.utcnow()
    )
    public = answer(found)
    if found.share_with != body.share_with:
        public.note = SHARING_RESET
    return public


@router.get("/mentoring/me/recovery", responses=problems({404: NOT_SET}))
async def read_my_recovery(caller: Member, db: Db) -> RecoveryPublic:
    """Your recovery date, the milestones behind you and the next one."""
    found = await service.get_recovery(db, caller.org, caller.sub, service.utcnow())
    if found is None:
        raise NotFound("recovery date")
    return answer(found)


@router.delete("/mentoring/me/recovery", status_code=204, responses=problems({404: NOT_SET}))
async def delete_my_recovery(caller: Member, db: Db) -> Response:
    """Forget your recovery date: it is deleted, and no milestone is announced any more."""
    if not await service.forget_recovery(db, caller.org, caller.sub):
        raise NotFound("recovery date")
    return Response(status_code=204)
