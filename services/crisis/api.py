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
    Manager,
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
    deadline: datetime | None = Field(
        description="when the next level fires (triggered) or the acknowledgement times out (acknowledged)"
    )
    next_level: int | None = Field(description="the level a triggered case moves to at its deadline")
    catch_all: bool = Field(description="the case is at its catch-all level, which repeats")
    acknowledged_by: str | None
    regional: bool
    guidance: str = Field(
        description="988 / emergency guidance; the emergency-services wording for imminent risk"
    )


class FollowUp(BaseModel):
    responder_id: str
    due_by: datetime
    done_at: datetime | None


class CaseDetail(CasePublic):
    member_id: str
    outcome: Outcome | None
    referral: Referral | None
    partner_id: str | None
    referral_other: str | None = Field(description="what an 'other' referral was (stored encrypted)")
    cancel_reason: CancelReason | None
    follow_up: FollowUp | None = Field(description="the caring contact after a resolution")
    timeline: list[dict[str, Any]]


class Resolution(Strict):
    outcome: Outcome
    referral: Referral
    partner_id: Id | None = Field(
        default=None, description="required for a warm handoff: one of /crisis/partners"
    )
    referral_other: Text | None = Field(
        default=None, min_length=1, max_length=500, description="required for an 'other' referral"
    )


PlanItems = Annotated[list[Annotated[Text, Field(min_length=1, max_length=500)]], Field(max_length=20)]


class SafetyPlanUpdate(Strict):
    """The Stanley-Brown safety plan, in its six steps."""

    warning_signs: PlanItems = Field(default_factory=list)
    coping_strategies: PlanItems = Field(default_factory=list, description="internal coping strategies")
    distractions: PlanItems = Field(
        default_factory=list, description="people and social settings that distract"
    )
    help_contacts: PlanItems = Field(default_factory=list, description="people to ask for help")
    professionals: PlanItems = Field(
        default_factory=list, description="professionals and agencies, 988 among them"
    )
    environment_safety: PlanItems = Field(default_factory=list, description="making the environment safe")


class SafetyPlanPublic(SafetyPlanUpdate):
    updated_at: datetime | None
    updated_by: str | None


class FollowUpPublic(BaseModel):
    case_id: str
    org: str
    responder_id: str = Field(description="who owes it")
    due_by: datetime
    overdue: bool


class StaffMember(BaseModel):
    responder_id: str
    roles: list[model.StaffRole]
    active: bool


class RosterPublic(BaseModel):
    roster_id: str
    time_zone: str
    responder_ids: list[str]
    rotation_start: datetime = Field(description="first handover, local wall time of the organization")
    overrides: list[dict[str, Any]]
    on_call_now: str | None
    next_on_call: str | None
    next_change_at: datetime | None


class PartnerUpdate(Strict):
    name: Text = Field(min_length=1, max_length=200)


class PartnerPublic(BaseModel):
    partner_id: str
    name: str


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
        opened_at=now, deadline=None, next_level=None, catch_all=False, acknowledged_by=None, regional=False,
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
        "next_level": case.next_level,
        "catch_all": case.at_catch_all,
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
    return await _apply(db, publisher, await _case_org(db, caller, case_id), case_id, transition)


async def _apply(
    db: Db, publisher: Publisher, org: str, case_id: str, transition: service.Transition
) -> CasePublic:
    """A transition of a case whose organization the route has already checked the caller may work in."""
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
async def read_case(case_id: PathId, caller: CaseReader, db: Db, sealer: NotesSealer) -> CaseDetail:
    """One case with its timeline; every read is written to the case's audit trail."""
    case_id = await service.resolve_case_id(db, caller.org, case_id)
    org = await _case_org(db, caller, case_id)
    case = await service.read_case(db, org, case_id, caller.sub, datetime.now(UTC))
    if case is None:
        raise NotFound("case")
    follow_up = (
        FollowUp(responder_id=case.follow_up_by, due_by=case.follow_up_due, done_at=case.follow_up_done_at)
        if case.follow_up_by and case.follow_up_due
        else None
    )
    return CaseDetail(
        **_common(case),
        member_id=case.member_id,
        outcome=case.outcome,
        referral=case.referral,
        partner_id=case.partner_id,
        referral_other=sealer.open(org, case.id, case.referral_other) if case.referral_other else None,
        cancel_reason=case.cancel_reason,
        follow_up=follow_up,
        timeline=case.timeline,
    )


@router.post("/crisis/cases/{case_id}/acknowledge", responses=CONFLICT)
async def acknowledge_case(case_id: PathId, caller: Responder, db: Db, publisher: Publisher) -> CasePublic:
    """Take the case: escalation stops until the acknowledgement times out."""
    now = datetime.now(UTC)
    return await _transition(db, publisher, caller, case_id, lambda c: model.acknowledge(c, caller.sub, now))


@router.post("/crisis/cases/{case_id}/resolve", responses=CONFLICT)
async def resolve_case(
    case_id: PathId, body: Resolution, caller: Responder, db: Db, publisher: Publisher, sealer: NotesSealer
) -> CasePublic:
    """Close the case with its outcome and referral; a caring contact is scheduled within 24 hours."""
    now = datetime.now(UTC)
    org = await _case_org(db, caller, case_id)
    if body.partner_id and not await service.is_partner(db, org, body.partner_id):
        raise Problem(422, "Unknown partner", "a warm handoff names one of the organization's partners")
    other = sealer.seal(org, case_id, body.referral_other) if body.referral_other else None
    elsewhere = await service.responder_org(db, org, caller)
    try:
        return await _apply(
            db, publisher, org, case_id,
            lambda c: model.resolve(
                c, responder_id=caller.sub, outcome=body.outcome, referral=body.referral,
                partner_id=body.partner_id, referral_other=other, now=now, responder_org=elsewhere,
            ),
        )  # fmt: skip
    except model.BadResolution as exc:
        raise Problem(422, "Invalid resolution", str(exc)) from exc


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


@router.get("/crisis/cases/{case_id}/safety-plan")
async def read_safety_plan(
    case_id: PathId, caller: Responder, db: Db, sealer: NotesSealer
) -> SafetyPlanPublic:
    """The case's Stanley-Brown safety plan (empty until written); the read is audited."""
    org = await _case_org(db, caller, case_id)
    plan = await service.read_safety_plan(db, sealer, org, case_id, caller.sub, datetime.now(UTC))
    if plan is None:
        raise NotFound("case")
    return SafetyPlanPublic.model_validate(plan, strict=False)


@router.put("/crisis/cases/{case_id}/safety-plan", responses=CONFLICT)
async def update_safety_plan(
    case_id: PathId,
    body: SafetyPlanUpdate,
    caller: Responder,
    db: Db,
    publisher: Publisher,
    sealer: NotesSealer,
) -> SafetyPlanPublic:
    """Write the case's safety plan, encrypted with the organization's key; a line in the timeline."""
    org = await _case_org(db, caller, case_id)
    now = datetime.now(UTC)
    sealed = sealer.seal(org, case_id, body.model_dump_json())
    await _apply(
        db,
        publisher,
        org,
        case_id,
        lambda c: model.update_safety_plan(c, sealed=sealed, by=caller.sub, now=now),
    )
    return SafetyPlanPublic(**body.model_dump(), updated_at=now, updated_by=caller.sub)


@router.get("/crisis/follow-ups")
async def list_follow_ups(caller: Responder, db: Db) -> list[FollowUpPublic]:
    """The caring contacts the caller still owes (a coordinator: also those of people deactivated since)."""
    now = datetime.now(UTC)
    return [
        FollowUpPublic(
            case_id=c.id,
            org=c.org,
            responder_id=c.follow_up_by,
            due_by=c.follow_up_due,
            overdue=c.follow_up_due < now,
        )
        for c in await service.follow_ups(db, caller)
        if c.follow_up_due and c.follow_up_by
    ]


@router.post("/crisis/cases/{case_id}/follow-up", status_code=204, responses=CONFLICT)
async def complete_follow_up(case_id: PathId, caller: Responder, db: Db, publisher: Publisher) -> None:
    """Mark the caring contact done: the responder who owes it, or a coordinator or org admin."""
    now, lead = datetime.now(UTC), caller.has_any(Role.COORDINATOR, Role.ORG_ADMIN)
    try:
        await _transition(
            db, publisher, caller, case_id,
            lambda c: model.complete_follow_up(c, by=caller.sub, for_anyone=lead, now=now),
        )  # fmt: skip
    except model.NotYours as exc:
        raise Problem(403, "Forbidden", str(exc)) from exc


@router.get("/crisis/cases/{case_id}/partners")
async def list_case_partners(case_id: PathId, caller: Responder, db: Db) -> list[PartnerPublic]:
    """The partners a warm handoff of this case can name: its organization's (for the regional team,
    not their own)."""
    org = await _case_org(db, caller, case_id)
    return [PartnerPublic(**p) for p in await service.list_partners(db, org)]


@router.get("/crisis/partners")
async def list_partners(caller: Responder, db: Db) -> list[PartnerPublic]:
    """The organization's clinical partners, for a warm handoff."""
    return [PartnerPublic(**p) for p in await service.list_partners(db, caller.org)]


@router.put("/crisis/partners/{partner_id}", status_code=204)
async def update_partner(partner_id: PathId, body: PartnerUpdate, caller: Manager, db: Db) -> None:
    """Name a clinical partner of the organization (coordinators and org admins)."""
    await service.save_partner(db, caller.org, partner_id, body.name)


@router.get("/crisis/cases/{case_id}/audit")
async def list_audit(case_id: PathId, caller: OrgAdmin, db: Db) -> list[AuditEntry]:
    """Who read this case, and when (org admins)."""
    entries = await service.read_audit(db, caller.org, case_id)
    if entries is None:
        raise NotFound("case")
    return [AuditEntry(**{k: d[k] for k in ("case_id", "reader", "at", "action")}) for d in entries]


@router.put("/crisis/staff/{responder_id}", status_code=204)
async def update_staff(
    responder_id: PathId, body: StaffUpdate, caller: Manager, db: Db, directory: CaseDirectory
) -> None:
    """Put a person on the organization's crisis staff, as responder and/or coordinator (active again
    if they had been deactivated)."""
    await service.save_staff(db, caller.org, responder_id, sorted(set(body.roles)))
    directory.forget()


@router.delete("/crisis/staff/{responder_id}", status_code=204, responses=CONFLICT)
async def deactivate_staff(
    responder_id: PathId,
    caller: Manager,
    db: Db,
    publisher: Publisher,
    network: CurrentNetwork,
    directory: CaseDirectory,
) -> None:
    """Deactivate a person: never targeted again, no cases to work, their pending crisis messages stop;
    refused while they are the last person the protocol's catch-all reaches."""
    try:
        found = await service.deactivate_staff(
            db, publisher, network, caller.org, responder_id, by=caller.sub
        )
    except model.NobodyToReach as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    if found is None:
        raise NotFound("staff member")
    directory.forget()


@router.get("/crisis/staff")
async def list_staff(caller: Manager, db: Db) -> list[StaffMember]:
    """The organization's crisis staff, active or not (coordinators and org admins)."""
    return [StaffMember(**d) for d in await service.list_staff(db, caller.org)]


@router.get("/crisis/staff/{responder_id}")
async def read_staff(responder_id: PathId, caller: Manager, db: Db) -> StaffMember:
    """One person's crisis roles in the organization, and whether they are active."""
    member = await service.staff_member(db, caller.org, responder_id)
    if member is None:
        raise NotFound("staff member")
    return StaffMember(**member)


@router.put("/crisis/rosters/{roster_id}", status_code=204)
async def update_roster(
    roster_id: PathId,
    body: RosterUpdate,
    caller: Manager,
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


@router.get("/crisis/rosters")
async def list_rosters(caller: Responder, db: Db) -> list[RosterPublic]:
    """The organization's rosters: who is on call now, and when that changes to whom."""
    return [
        RosterPublic(
            roster_id=roster.id,
            time_zone=roster.time_zone,
            responder_ids=list(roster.responder_ids),
            rotation_start=roster.rotation_start,
            overrides=[asdict(o) for o in roster.overrides],
            on_call_now=now_on_call,
            next_on_call=change[1] if change else None,
            next_change_at=change[0] if change else None,
        )
        for roster, now_on_call, change in await service.list_rosters(db, caller.org, datetime.now(UTC))
    ]


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
async def read_protocol(caller: Manager, db: Db) -> ProtocolPublic:
    """The organization's crisis protocol (coordinators and org admins)."""
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
