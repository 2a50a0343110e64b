"""Crisis HTTP routes."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.crisis import Severity
from services.crisis import model, service
from services.crisis.deps import CaseReader, Db, OrgAdmin, Publisher, Reporter
from shared.auth.principal import Role
from shared.http import NotFound, Problem
from shared.telemetry import CASE_ID, CRISIS_LEVEL, tag_current_span

router = APIRouter(tags=["crisis"])

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertCreate(Strict):
    severity: Severity = "high"


class CasePublic(BaseModel):
    id: str
    state: str
    severity: Severity
    level: int
    notified: list[str]
    opened_at: datetime
    guidance: str = model.EMERGENCY_GUIDANCE


class RosterUpdate(Strict):
    responder_ids: list[Id] = Field(min_length=1, max_length=100)
    rotation_start: AwareDatetime


class LevelIn(Strict):
    responder_ids: list[Id] = Field(default_factory=list, max_length=50)
    roster_id: Id | None = None
    timeout_minutes: int = Field(default=5, ge=1, le=240)


class ProtocolUpdate(Strict):
    levels: list[LevelIn] = Field(min_length=1, max_length=10)


def _public(case: model.Case) -> CasePublic:
    return CasePublic(
        id=case.id,
        state=case.state,
        severity=case.severity,
        level=case.level,
        notified=case.notified,
        opened_at=case.opened_at,
    )


@router.post("/crisis/alerts", status_code=201)
async def create_alert(body: AlertCreate, caller: Reporter, db: Db, publisher: Publisher) -> CasePublic:
    """Reach out: open a crisis case and escalate it to the organization's on-call responders."""
    case = await service.raise_alert(
        db, publisher, org=caller.org, member_id=caller.sub, severity=body.severity, now=datetime.now(UTC)
    )
    tag_current_span({CASE_ID: case.id, CRISIS_LEVEL: case.level})
    return _public(case)


@router.get("/crisis/cases/{case_id}")
async def read_case(case_id: Annotated[str, Path(max_length=64)], caller: CaseReader, db: Db) -> CasePublic:
    """One case of the caller's organization (a member sees only their own)."""
    case = await service.get_case(db, caller.org, case_id)
    staff = caller.has_any(Role.RESPONDER, Role.COORDINATOR, Role.ORG_ADMIN)
    if case is None or (not staff and case.member_id != caller.sub):
        raise NotFound("case")
    return _public(case)


@router.put("/crisis/rosters/{roster_id}", status_code=204)
async def update_roster(
    roster_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    body: RosterUpdate,
    caller: OrgAdmin,
    db: Db,
) -> None:
    """Create or replace an on-call roster: responders rotating weekly from `rotation_start`."""
    roster = model.Roster(
        id=roster_id, responder_ids=tuple(body.responder_ids), rotation_start=body.rotation_start
    )
    await service.save_roster(db, caller.org, roster)


@router.put("/crisis/protocol", status_code=204)
async def update_protocol(body: ProtocolUpdate, caller: OrgAdmin, db: Db) -> None:
    """Replace the organization's crisis protocol; refused if any level could reach nobody."""
    protocol = model.Protocol(
        levels=tuple(
            model.Level(
                responder_ids=tuple(lv.responder_ids),
                roster_id=lv.roster_id,
                timeout_minutes=lv.timeout_minutes,
            )
            for lv in body.levels
        )
    )
    try:
        await service.save_protocol(db, caller.org, protocol)
    except model.NobodyToReach as exc:
        raise Problem(422, "Protocol reaches nobody", str(exc)) from exc
