"""Crisis HTTP routes: intake, case actions, and what org admins manage (staff, rosters, protocol)."""

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from contracts.crisis import CancelReason, CatchAll, Channel, Outcome, Referral, Severity
from services.crisis import model, service, webhooks
from services.crisis.deps import (
    AlertIntake,
    CaseDirectory,
    CaseReader,
    CurrentNetwork,
    Db,
    NetworkAdmin,
    NotesSealer,
    OrgAdmin,
    Publisher,
    Reporter,
    Responder,
)
from shared.auth.principal import Principal, Role
from shared.http import NotFound, Problem
from shared.inputs import Instant, Strict, Text, WallTime
from shared.telemetry import CASE_ID, CRISIS_LEVEL, tag_current_span
from shared.webhooks import WebhookPublic, WebhookUpdate

router = APIRouter(tags=["crisis"])

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
PathId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
MAX_NOTE_CHARS = 4000
# Case actions answer 409 when the case has moved on (acknowledging a resolved case, say).
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "the case's state does not allow it"}}


class AlertCreate(Strict):
    severity: Severity = "high"
    member_id: Id | None = Field(default=None, description="a mentor reporting about a mentee names them")


class CasePublic(BaseModel):
    id: str
    org: str
    state: str = Field(
        description="received (accepted in a surge, opening), triggered, acknowledged, resolved, cancelled"
    )
    severity: Severity
    level: int
    round: int
    notified: list[str]
    opened_at: datetime
    deadline: datetime | None
    acknowledged_by: str | None
    regional: bool
    guidance: str = Field(
        description="988 / emergency guidance; the emergency-services wording for imminent risk"
    )


class CaseDetail(CasePublic):
    member_id: str
    outcome: Outcome | None
    referral: Referral | None
    partner_id: str | None
    timeline: list[dict[str, Any]]


class Resolution(Strict):
    outcome: Outcome
    referral: Referral
    partner_id: Id | None = Field(default=None, description="required for a warm handoff")


class Cancellation(Strict):
    reason: CancelReason


class NoteCreate(Strict):
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class StaffUpdate(Strict):
    roles: list[model.StaffRole] = Field(min_length=1)


class OverrideIn(Strict):
    start: Instant
    end: Instant
    responder_id: Id | None = Field(description="null: nobody on call then (a planned gap)")


class RosterUpdate(Strict):
    responder_ids: list[Id] = Field(min_length=1, max_length=100)
    rotation_start: WallTime = Field(description="first handover, local wall time of the organization")
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=500)


class OnCall(BaseModel):
    roster_id: str
    at: datetime
    responder_id: str | None


class LevelIn(Strict):
    responder_ids: list[Id] = Field(default_factory=list, max_length=50)
    role: model.LevelRole | None = None
    roster_id: Id | None = None
    # Fractions are allowed (0.05 = 3 s) so drills and tests need not wait whole minutes.
    timeout_minutes: float = Field(default=5, ge=0.05, le=240)


class ProtocolUpdate(Strict):
    levels: list[LevelIn] = Field(default_factory=list, max_length=10)
    repeats: int = Field(default=0, ge=0, le=9)
    catch_all: CatchAll = "coordinator"
    catch_all_timeout_minutes: float = Field(default=5, ge=0.05, le=240)
    ack_timeout_minutes: float = Field(default=30, ge=0.05, le=24 * 60)
    start_levels: dict[Severity, Annotated[int, Field(ge=1, le=10)]] = Field(
        default_factory=lambda: dict(model.DEFAULT_START_LEVELS),
        description="the level a case of this severity starts at (past the last level: the last level)",
    )


class TeamUpdate(Strict):
    responder_ids: list[Id] = Field(min_length=1, max_length=100)


class TeamChange(BaseModel):
    at: datetime
    changed_by: str
    responder_ids: list[str]


class TeamPublic(BaseModel):
    region: str
    responder_ids: list[str]
    changes: list[TeamChange] = Field(description="newest first")


class AuditEntry(BaseModel):
    case_id: str
    reader: str
    at: datetime
    action: str


def _public(case: model.Case) -> CasePublic:
    return CasePublic(**_common(case))


def _received(case_id: str, org: str, severity: Severity, now: datetime) -> CasePublic:
    """The answer to an alert accepted in a surge: its case id, and where to turn while it opens."""
    return CasePublic(
        id=case_id, org=org, state="received", severity=severity, level=0, round=0, notified=[],
        opened_at=now, deadline=None, acknowledged_by=None, regional=False,
        guidance=model.guidance_for(severity),
    )  # fmt: skip


def _common(case: model.Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "org": case.org,
        "state": case.state,
        "severity": case.severity,
        "level": case.level,
        "round": case.round,
        "notified": case.notified,
        "opened_at": case.opened_at,
        "deadline": case.deadline,
        "acknowledged_by": case.acknowledged_by,
        "regional": case.regional,
        "guidance": case.guidance,
    }


async def _case_org(db: Db, caller: Principal, case_id: str) -> str:
    """The organization whose case the caller may work on; 404 whenever they may not."""
    org = await service.case_org(db, caller, case_id)
    if org is None:
        raise NotFound("case")
    return org


async def _transition(
    db: Db, publisher: Publisher, caller: Principal, case_id: str, transition: service.Transition
) -> CasePublic:
    org = await _case_org(db, caller, case_id)
    try:
        case = await service.change_case(db, publisher, org, case_id, transition)
    except model.InvalidTransition as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    if case is None:
        raise NotFound("case")
    tag_current_span({CASE_ID: case.id, CRISIS_LEVEL: case.level})
    return _public(case)


@router.post(
    "/crisis/alerts",
    status_code=201,
    responses={
        200: {"description": "merged into an open case"},
        202: {
            "description": "accepted in a surge: the case opens under this id in a moment (state received)"
        },
    },
)
async def create_alert(
    body: AlertCreate,
    caller: Reporter,
    db: Db,
    publisher: Publisher,
    directory: CaseDirectory,
    intake: AlertIntake,
    network: CurrentNetwork,
    response: Response,
) -> CasePublic:
    """Reach out (a member) or report a mentee (a mentor): open a case, or add to the person's open one."""
    channel: Channel
    if caller.has_any(Role.MENTOR) and body.member_id and body.member_id != caller.sub:
        member_id, channel = body.member_id, "mentor"
    elif body.member_id not in (None, caller.sub):
        raise Problem(403, "Forbidden", "only a mentor reports about somebody else")
    else:
        member_id, channel = caller.sub, "member"
    now = datetime.now(UTC)
    taken = await service.take_alert(
        db, publisher, directory, network, intake, org=caller.org, member_id=member_id,
        severity=body.severity, channel=channel, by=caller.sub, now=now,
    )  # fmt: skip
    tag_current_span({CASE_ID: taken.case_id})
    if taken.case is None:
        response.status_code = 202
        return _received(taken.case_id, caller.org, body.severity, now)
    case = taken.case
    if not taken.created:
        response.status_code = 200
    tag_current_span({CASE_ID: case.id, CRISIS_LEVEL: case.level})
    return _public(case)


@router.get("/crisis/cases")
async def list_cases(
    caller: Responder,
    db: Db,
    state: Literal["open", "closed"] = "open",
    limit: int = Query(100, ge=1, le=500),
) -> list[CasePublic]:
    """Cases of the caller's organization (and, for a regional team, of its regions), newest first."""
    return [
        _public(case) for case in await service.list_cases(db, caller, open_=state == "open", limit=limit)
    ]


@router.get("/crisis/cases/{case_id}")
async def read_case(case_id: PathId, caller: CaseReader, db: Db) -> CaseDetail:
    """One case with its timeline; every read is written to the case's audit trail."""
    case_id = await service.resolve_case_id(db, caller.org, case_id)
    org = await _case_org(db, caller, case_id)
    case = await service.read_case(db, org, case_id, caller.sub, datetime.now(UTC))
    if case is None:
        raise NotFound("case")
    return CaseDetail(
        **_common(case),
        member_id=case.member_id,
        outcome=case.outcome,
        referral=case.referral,
        partner_id=case.partner_id,
        timeline=case.timeline,
    )


@router.post("/crisis/cases/{case_id}/acknowledge", responses=CONFLICT)
async def acknowledge_case(case_id: PathId, caller: Responder, db: Db, publisher: Publisher) -> CasePublic:
    """Take the case: escalation stops until the acknowledgement times out."""
    now = datetime.now(UTC)
    return await _transition(db, publisher, caller, case_id, lambda c: model.acknowledge(c, caller.sub, now))


@router.post("/crisis/cases/{case_id}/resolve", responses=CONFLICT)
async def resolve_case(
    case_id: PathId, body: Resolution, caller: Responder, db: Db, publisher: Publisher
) -> CasePublic:
    """Close the case with its outcome and referral; a caring contact is scheduled within 24 hours."""
    now = datetime.now(UTC)
    return await _transition(
        db, publisher, caller, case_id,
        lambda c: model.resolve(
            c, responder_id=caller.sub, outcome=body.outcome, referral=body.referral,
            partner_id=body.partner_id, now=now,
        ),
    )  # fmt: skip


@router.post("/crisis/cases/{case_id}/cancel", responses=CONFLICT)
async def cancel_case(
    case_id: PathId, body: Cancellation, caller: CaseReader, db: Db, publisher: Publisher
) -> CasePublic:
    """Cancel with a reason: the member who reached out, or the crisis staff."""
    now = datetime.now(UTC)
    return await _transition(
        db, publisher, caller, case_id, lambda c: model.cancel(c, by=caller.sub, reason=body.reason, now=now)
    )


@router.post("/crisis/cases/{case_id}/notes", status_code=204)
async def create_note(
    case_id: PathId, body: NoteCreate, caller: Responder, db: Db, sealer: NotesSealer
) -> None:
    """Add a note to the case, encrypted with the organization's key."""
    org = await _case_org(db, caller, case_id)
    await service.add_note(db, sealer, org, case_id, caller.sub, body.text, datetime.now(UTC))


@router.get("/crisis/cases/{case_id}/notes")
async def list_notes(case_id: PathId, caller: Responder, db: Db, sealer: NotesSealer) -> list[dict[str, Any]]:
    """The case's notes, decrypted; the read is audited like any read of the case."""
    org = await _case_org(db, caller, case_id)
    return await service.read_notes(db, sealer, org, case_id, caller.sub, datetime.now(UTC))


@router.get("/crisis/cases/{case_id}/audit")
async def list_audit(case_id: PathId, caller: OrgAdmin, db: Db) -> list[AuditEntry]:
    """Who read this case, and when (org admins)."""
    entries = await service.read_audit(db, caller.org, case_id)
    if entries is None:
        raise NotFound("case")
    return [AuditEntry(**{k: d[k] for k in ("case_id", "reader", "at", "action")}) for d in entries]


@router.put("/crisis/staff/{responder_id}", status_code=204)
async def update_staff(
    responder_id: PathId, body: StaffUpdate, caller: OrgAdmin, db: Db, directory: CaseDirectory
) -> None:
    """Put a person on the organization's crisis staff, as responder and/or coordinator."""
    await service.save_staff(db, caller.org, responder_id, sorted(set(body.roles)))
    directory.forget()


class StaffPublic(BaseModel):
    responder_id: str
    roles: list[model.StaffRole]


@router.get("/crisis/staff/{responder_id}")
async def read_staff(responder_id: PathId, caller: OrgAdmin, db: Db) -> StaffPublic:
    """One person's crisis roles in the organization (org admins)."""
    roles = await service.staff_roles(db, caller.org, responder_id)
    if roles is None:
        raise NotFound("staff member")
    return StaffPublic(responder_id=responder_id, roles=roles)


@router.put("/crisis/rosters/{roster_id}", status_code=204)
async def update_roster(
    roster_id: PathId,
    body: RosterUpdate,
    caller: OrgAdmin,
    db: Db,
    network: CurrentNetwork,
    directory: CaseDirectory,
) -> None:
    """Create or replace an on-call roster: weekly rotation in the org's time zone, plus overrides."""
    organization = network.organization(caller.org)
    roster = model.Roster(
        id=roster_id,
        time_zone=organization.time_zone if organization else "UTC",
        responder_ids=tuple(body.responder_ids),
        rotation_start=body.rotation_start,
        overrides=tuple(model.Override(o.start, o.end, o.responder_id) for o in body.overrides),
    )
    try:
        await service.save_roster(db, caller.org, roster)
        directory.forget()
    except model.NobodyToReach as exc:
        raise Problem(422, "Invalid roster", str(exc)) from exc


@router.get("/crisis/rosters/{roster_id}/on-call")
async def read_on_call(
    roster_id: PathId, caller: Responder, db: Db, at: Annotated[Instant | None, Query()] = None
) -> OnCall:
    """Who is on call at `at` (default now); null when the slot is empty."""
    roster = await service.load_roster(db, caller.org, roster_id)
    if roster is None:
        raise NotFound("roster")
    when = at or datetime.now(UTC)
    return OnCall(roster_id=roster_id, at=when, responder_id=roster.on_call(when))


@router.put("/crisis/protocol", status_code=204)
async def update_protocol(
    body: ProtocolUpdate, caller: OrgAdmin, db: Db, network: CurrentNetwork, directory: CaseDirectory
) -> None:
    """Replace the organization's crisis protocol; refused if it could end with nobody."""
    protocol = model.Protocol(
        levels=tuple(
            model.Level(
                responder_ids=tuple(lv.responder_ids),
                role=lv.role,
                roster_id=lv.roster_id,
                timeout_minutes=lv.timeout_minutes,
            )
            for lv in body.levels
        ),
        repeats=body.repeats,
        catch_all=body.catch_all,
        catch_all_timeout_minutes=body.catch_all_timeout_minutes,
        ack_timeout_minutes=body.ack_timeout_minutes,
        start_levels=body.start_levels,
    )
    try:
        await service.save_protocol(db, network, caller.org, protocol)
        directory.forget()
    except model.NobodyToReach as exc:
        raise Problem(422, "Protocol reaches nobody", str(exc)) from exc


class ProtocolPublic(ProtocolUpdate):
    """The protocol as saved: the fields an update takes."""


@router.get(
    "/crisis/protocol", responses={404: {"description": "no protocol of its own: the default applies"}}
)
async def read_protocol(caller: OrgAdmin, db: Db) -> ProtocolPublic:
    """The organization's crisis protocol (org admins)."""
    protocol = await service.own_protocol(db, caller.org)
    if protocol is None:
        raise NotFound("protocol")
    # The saved model has the fields an update takes; tuples come back as lists (hence not strict).
    return ProtocolPublic.model_validate(asdict(protocol), strict=False)


@router.put("/crisis/regions/{region}/team", status_code=204)
async def update_regional_team(
    region: PathId,
    body: TeamUpdate,
    caller: NetworkAdmin,
    db: Db,
    network: CurrentNetwork,
    directory: CaseDirectory,
) -> None:
    """Name a region's crisis team (network admins): regional responders on the staff of its organizations."""
    if region not in caller.regions:
        raise Problem(403, "Forbidden", "you administer other regions")
    try:
        await service.save_regional_team(db, network, region, body.responder_ids, changed_by=caller.sub)
    except model.NobodyToReach as exc:
        raise Problem(422, "Unknown responders", str(exc)) from exc
    directory.forget()


@router.get("/crisis/regions/{region}/team")
async def read_regional_team(region: PathId, caller: NetworkAdmin, db: Db) -> TeamPublic:
    """A region's crisis team, and who changed it when (network admins of the region)."""
    if region not in caller.regions:
        raise Problem(403, "Forbidden", "you administer other regions")
    return TeamPublic.model_validate(await service.regional_team(db, region))


@router.put("/crisis/webhook")
async def update_webhook(
    body: WebhookUpdate, caller: OrgAdmin, db: Db, sealer: NotesSealer, request: Request
) -> WebhookPublic:
    """Register the organization's HTTPS endpoint for escalations; returns a new signing secret."""
    allow_private = request.app.state.settings.webhook_allow_private_targets
    secret = await webhooks.register_endpoint(db, sealer, caller.org, body.url, allow_private=allow_private)
    return WebhookPublic(url=body.url, secret=secret)


@router.delete("/crisis/webhook", status_code=204)
async def delete_webhook(caller: OrgAdmin, db: Db) -> None:
    """Stop posting escalations; deliveries still pending give up with a timeline line."""
    await webhooks.delete_endpoint(db, caller.org)


@router.get("/crisis/webhook/attempts")
async def list_webhook_attempts(
    caller: OrgAdmin, db: Db, case_id: Annotated[Text | None, Query(max_length=64)] = None
) -> list[dict[str, Any]]:
    """Every delivery attempt, newest first: status code or error, per escalation event."""
    return await webhooks.attempts(db, caller.org, case_id)
