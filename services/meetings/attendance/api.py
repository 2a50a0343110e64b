"""Attendance routes: a facilitator's code and list, check-ins and marks, a member's history and proof.

A facilitator is an org admin or a coordinator of the meeting's organization. Attendance is personal
data of the member's organization: nothing here is public, and a facilitator sees other
organizations' members at their meeting only as a number.
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from services.meetings.api import MeetingId, OccurrenceDate
from services.meetings.attendance import model, proof, service
from services.meetings.attendance.model import Attended
from services.meetings.deps import Caller, CurrentNetwork, Db, Facilitator, MeetingsSettings, Publisher
from services.meetings.service import utcnow
from shared.auth.principal import Principal
from shared.http import ProblemDetails
from shared.inputs import Strict
from shared.network import Network

router = APIRouter(tags=["attendance"])

# A member id is a token's `sub` as the network's services take one in a path (crisis, mentoring):
# an opaque id, so that an e-mail address, which people would type, is refused rather than invited.
MemberId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def problems(why: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ProblemDetails, "description": d} for status, d in why.items()}


NO_MEETING = "no such meeting in your organization"
NO_OCCURRENCE = "the meeting has no occurrence that day"
CANCELLED = "the occurrence is cancelled"


class CheckinCode(BaseModel):
    meeting_id: str
    occurrence: dt.date
    code: str = Field(description="what the facilitator shows; members type it in any case")
    starts_at: dt.datetime
    ends_at: dt.datetime
    opens_at: dt.datetime = Field(description="the code works from here ...")
    closes_at: dt.datetime = Field(description="... to here")
    open_now: bool


class CheckIn(Strict):
    meeting_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    code: str = Field(min_length=1, max_length=model.MAX_CODE_INPUT)


class AttendancePublic(BaseModel):
    meeting_id: str
    meeting_org: str = Field(description="the organization that lists the meeting")
    occurrence: dt.date
    name: str = Field(description="the meeting's name when it was attended")
    starts_at: dt.datetime
    ends_at: dt.datetime
    timezone: str
    where: str | None
    online: bool
    attendance_option: str
    method: str = Field(description="code (the member checked in) or facilitator (marked)")
    recorded_at: dt.datetime


class AttendanceRecord(AttendancePublic):
    member_id: str
    already_recorded: bool = Field(description="true when this attendance was recorded before")


class RollMember(BaseModel):
    member_id: str
    method: str
    recorded_at: dt.datetime


class OccurrenceAttendance(BaseModel):
    meeting_id: str
    occurrence: dt.date
    members: list[RollMember] = Field(description="your organization's members who attended")
    members_of_other_organizations: int = Field(description="only how many: they are not yours to see")
    total: int


class AttendanceHistory(BaseModel):
    member_id: str
    org: str
    total: int
    meetings: int = Field(description="how many different meetings")
    first: dt.date | None
    last: dt.date | None
    weeks_attended: int
    current_streak_weeks: int = Field(description="weeks in a row with an attendance, up to this week")
    longest_streak_weeks: int
    items: list[AttendancePublic] = Field(description="oldest first")


def public(a: Attended) -> AttendancePublic:
    return AttendancePublic(
        meeting_id=a.meeting_id,
        meeting_org=a.meeting_org,
        occurrence=a.occurrence,
        name=a.name,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        timezone=a.timezone,
        where=a.where,
        online=a.online,
        attendance_option=a.attendance_option,
        method=a.method,
        recorded_at=a.recorded_at,
    )


def answer(recorded: service.Recorded, response: Response) -> AttendanceRecord:
    response.status_code = 201 if recorded.created else 200
    return AttendanceRecord(
        **dict(public(recorded.attended)),
        member_id=recorded.member_id,
        already_recorded=not recorded.created,
    )


@router.get(
    "/meetings/{meeting_id}/occurrences/{date}/code",
    responses=problems({404: NO_MEETING, 409: CANCELLED, 422: NO_OCCURRENCE}),
)
async def read_checkin_code(
    meeting_id: MeetingId, date: OccurrenceDate, caller: Facilitator, db: Db, settings: MeetingsSettings
) -> CheckinCode:
    """The check-in code a facilitator shows at an occurrence, and when it works."""
    found = await service.occurrence_code(db, settings, caller.org, meeting_id, date, utcnow())
    return CheckinCode(
        meeting_id=found.meeting_id,
        occurrence=found.occurrence.date,
        code=found.code,
        starts_at=found.occurrence.starts_at,
        ends_at=found.occurrence.ends_at,
        opens_at=found.window.opens,
        closes_at=found.window.closes,
        open_now=found.open_now,
    )


@router.post(
    "/attendance/check-ins",
    status_code=201,
    responses={
        200: {"model": AttendanceRecord, "description": "already recorded: nothing was added"},
        **problems(
            {
                404: "no such meeting",
                409: "check-in is not open for this meeting now",
                422: "the code is wrong, or another occurrence's",
                429: f"{model.MAX_FAILURES} wrong codes for this occurrence lately: wait Retry-After seconds",
            }
        ),
    },
)
async def create_check_in(
    body: CheckIn,
    caller: Caller,
    db: Db,
    publisher: Publisher,
    settings: MeetingsSettings,
    response: Response,
) -> AttendanceRecord:
    """Check in to a meeting happening now (any of the network) with the code its facilitator shows."""
    recorded = await service.check_in(
        db, publisher, settings, caller.org, caller.sub, body.meeting_id, body.code, utcnow()
    )
    return answer(recorded, response)


@router.put(
    "/meetings/{meeting_id}/occurrences/{date}/attendance/{member_id}",
    status_code=201,
    responses={
        200: {"model": AttendanceRecord, "description": "already recorded: nothing was added"},
        **problems({404: NO_MEETING, 409: f"{CANCELLED}, or it has not started yet", 422: NO_OCCURRENCE}),
    },
)
async def mark_attendance(
    meeting_id: MeetingId,
    date: OccurrenceDate,
    member_id: MemberId,
    caller: Facilitator,
    db: Db,
    publisher: Publisher,
    settings: MeetingsSettings,
    response: Response,
) -> AttendanceRecord:
    """Record that a member of your organization attended an occurrence of your organization's meeting."""
    recorded = await service.mark(db, publisher, settings, caller.org, meeting_id, date, member_id, utcnow())
    return answer(recorded, response)


@router.get(
    "/meetings/{meeting_id}/occurrences/{date}/attendance",
    responses=problems({404: NO_MEETING, 422: NO_OCCURRENCE}),
)
async def list_occurrence_attendance(
    meeting_id: MeetingId, date: OccurrenceDate, caller: Facilitator, db: Db
) -> OccurrenceAttendance:
    """Who of your organization attended an occurrence, and how many from other organizations."""
    roll = await service.occurrence_attendance(db, caller.org, meeting_id, date)
    return OccurrenceAttendance(
        meeting_id=roll.meeting_id,
        occurrence=roll.occurrence,
        members=[RollMember(**m) for m in roll.members],
        members_of_other_organizations=roll.others,
        total=len(roll.members) + roll.others,
    )


async def _history(caller: Principal, db: Db, network: Network) -> tuple[service.History, proof.Produced]:
    now = utcnow()
    org = service.organization(network, caller.org, now)
    history = await service.member_history(db, caller.org, caller.sub, org.today)
    return history, proof.Produced(caller.sub, caller.org, org.name, now)


@router.get("/me/attendance")
async def read_my_attendance(caller: Caller, db: Db, network: CurrentNetwork) -> AttendanceHistory:
    """Your attendance history and streaks."""
    history, _ = await _history(caller, db, network)
    s = history.summary
    return AttendanceHistory(
        member_id=history.member_id,
        org=history.org,
        total=s.total,
        meetings=s.meetings,
        first=s.first,
        last=s.last,
        weeks_attended=s.weeks_attended,
        current_streak_weeks=s.streaks.current,
        longest_streak_weeks=s.streaks.longest,
        items=[public(a) for a in history.attended],
    )


class CsvResponse(Response):
    media_type = "text/csv"  # Starlette adds "; charset=utf-8"


@router.get(
    "/me/attendance.csv",
    response_class=CsvResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "proof of attendance: who, which organization, when produced, then one row "
            "per meeting attended",
        }
    },
)
async def download_my_attendance(caller: Caller, db: Db, network: CurrentNetwork) -> CsvResponse:
    """Your proof of attendance as a CSV file (for a court, an employer or a treatment programme)."""
    history, produced = await _history(caller, db, network)
    return CsvResponse(
        proof.csv_text(history, produced),
        headers={
            "Content-Disposition": f'attachment; filename="attendance-{produced.at:%Y-%m-%d}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/me/attendance/proof",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "a page to print"}
    },
)
async def read_my_attendance_proof(caller: Caller, db: Db, network: CurrentNetwork) -> HTMLResponse:
    """Your proof of attendance as a page to print."""
    history, produced = await _history(caller, db, network)
    return HTMLResponse(proof.html_page(history, produced), headers={"Cache-Control": "private, no-store"})
