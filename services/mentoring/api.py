"""Mentoring HTTP routes: mentors' profiles, requests, proposals, matches and the coordinator's tools.

Everything here is private to the caller's organization (taken from the token): another
organization's caller gets 404 for every id, as does a member or mentor who is not a party to it.
"""

import datetime as dt
from typing import Annotated, Literal, Self

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from contracts.ids import new_id
from contracts.mentoring import EndedBy, EndReason
from services.mentoring import model, service, store
from services.mentoring.checkins import service as checkins
from services.mentoring.deps import (
    Caller,
    Coordinator,
    Db,
    MatchId,
    Member,
    Mentor,
    MentoringSettings,
    MentorRoster,
    PersonId,
    Publisher,
    coordinates,
    problems,
)
from services.mentoring.milestones import service as milestones
from services.mentoring.service import utcnow
from shared.auth.principal import Role
from shared.http import NotFound, Problem
from shared.inputs import Strict, Text

router = APIRouter(tags=["mentoring"])

Lang = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
Tag = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
Region = Annotated[Text, Field(min_length=1, max_length=60)]
DayPart = Annotated[str, Field(pattern=r"^[0-6]:(morning|afternoon|evening)$", description="0 = Sunday")]
Age = Annotated[int, Field(ge=12, le=120)]

NO_MENTOR = "no such mentor in your organization"
MILESTONES_AHEAD = dt.timedelta(days=30)  # "coming up" on a mentor's view
NO_MATCH = "no such proposal or match of yours"
NO_REQUEST = "no such request of yours"


class MentorUpdate(Strict):
    capacity: int = Field(
        ge=1, le=10, description="mentees at once, proposals waiting for an answer included"
    )
    languages: list[Lang] = Field(default_factory=lambda: ["en"], min_length=1, max_length=10)
    gender: model.Gender | None = None
    age_min: Age | None = Field(default=None, description="the youngest member they take")
    age_max: Age | None = None
    pathways: list[model.Pathway] = Field(default_factory=list, max_length=5)
    lived_experience: list[Tag] = Field(default_factory=list, max_length=20)
    region: Region | None = None
    online: bool = True
    in_person: bool = False
    availability: list[DayPart] = Field(default_factory=list, max_length=21)
    paused: bool = Field(
        default=False, description="a paused mentor keeps their mentees and gets no proposals"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min is above age_max")
        if not (self.online or self.in_person):
            raise ValueError("a mentor meets online, in person, or both")
        if self.in_person and self.region is None:
            raise ValueError("a mentor who meets in person names their region")
        return self


class MentorPublic(BaseModel):
    mentor_id: str
    capacity: int
    active_mentees: int
    proposals_waiting: int
    free_slots: int
    languages: list[str]
    gender: str | None
    age_min: int | None
    age_max: int | None
    pathways: list[str]
    lived_experience: list[str]
    region: str | None
    online: bool
    in_person: bool
    availability: list[str]
    paused: bool


class PreferenceIn(Strict):
    kind: model.PreferenceKind
    value: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_: -]+$")
    weight: int = Field(default=1, ge=1, le=5)


class MentorRequestCreate(Strict):
    languages: list[Lang] = Field(default_factory=lambda: ["en"], min_length=1, max_length=10)
    mentor_genders: list[model.Gender] = Field(default_factory=list, description="empty: any")
    pathways: list[model.Pathway] = Field(default_factory=list, description="empty: any")
    mode: model.Mode = "either"
    region: Region | None = None
    age: Age | None = Field(default=None, description="checked against the ages a mentor takes")
    preferences: list[PreferenceIn] = Field(default_factory=list, max_length=12)

    @model_validator(mode="after")
    def _region_for_in_person(self) -> Self:
        if self.mode == "in_person" and self.region is None:
            raise ValueError("an in-person request names the member's region")
        return self


class CheckPublic(BaseModel):
    constraint: str
    held: bool
    detail: str


class PreferencePublic(BaseModel):
    kind: str
    value: str
    weight: int
    held: bool
    points: int


class ExplanationPublic(BaseModel):
    mentor_id: str
    feasible: bool
    score: int = Field(description="preference points (0-100) plus load points (0-10)")
    checks: list[CheckPublic]
    preferences: list[PreferencePublic]
    load_points: int


class ProposalPublic(BaseModel):
    match_id: str
    mentor_id: str
    expires_at: dt.datetime


class MatchPublic(BaseModel):
    match_id: str
    mentor_id: str
    member_id: str
    status: Literal["proposed", "active"]
    score: int
    since: dt.datetime
    expires_at: dt.datetime | None


class MentorRequestPublic(BaseModel):
    id: str
    member_id: str
    status: Literal["waiting", "proposed", "matched"]
    requested_at: dt.datetime
    proposal: ProposalPublic | None = None
    match: MatchPublic | None = None
    explanation: ExplanationPublic | None = Field(default=None, description="why the proposed mentor")


class MatchEnd(Strict):
    reason: EndReason
    back_to_waiting: bool = Field(default=False, description="the member wants to be matched again")


class RematchPublic(BaseModel):
    waiting: int
    proposed: int
    still_waiting: int
    planned_score: int = Field(description="the optimal assignment's total score")


class WaitingPublic(BaseModel):
    member_id: str
    request_id: str
    requested_at: dt.datetime


class MentorLoad(BaseModel):
    mentor_id: str
    capacity: int
    active: int
    proposed: int
    paused: bool


class CoordinatorView(BaseModel):
    waiting: list[WaitingPublic]
    proposals: list[MatchPublic]
    mentors: list[MentorLoad]


class Milestone(BaseModel):
    milestone: str
    on: dt.date = Field(description="the member's own local date")


class MenteePublic(MatchPublic):
    last_check_in: dt.datetime | None
    check_in_overdue: bool
    next_milestone: Milestone | None = Field(description="within 30 days, if the member shares milestones")


class MentorView(BaseModel):
    proposals: list[MatchPublic] = Field(description="waiting for your answer")
    mentees: list[MenteePublic]


def mentor_public(slots: model.Slots) -> MentorPublic:
    p = slots.profile
    active = sum(h.status == "active" for h in slots.held)
    return MentorPublic(
        mentor_id=p.mentor_id,
        active_mentees=active,
        proposals_waiting=len(slots.held) - active,
        free_slots=p.free_slots,
        **store.profile_to_doc(p),
    )


def match_public(mentor_id: str, h: model.Held) -> MatchPublic:
    return MatchPublic(mentor_id=mentor_id, **{k: v for k, v in vars(h).items() if k != "request_id"})


def explanation_public(e: model.Explanation) -> ExplanationPublic:
    return ExplanationPublic(
        mentor_id=e.mentor_id,
        feasible=e.feasible,
        score=e.score,
        checks=[CheckPublic(**vars(c)) for c in e.checks],
        preferences=[PreferencePublic(**vars(p)) for p in e.preferences],
        load_points=e.load_points,
    )


async def request_public(db: Db, member: store.Document) -> MentorRequestPublic:
    request = store.doc_to_request(member)
    out = MentorRequestPublic(
        id=request.id, member_id=request.member_id, status=member["status"], requested_at=request.requested_at
    )
    if proposal := member.get("proposal"):
        out.proposal = ProposalPublic(**proposal)
        out.explanation = explanation_public(store.doc_to_explanation(proposal["explanation"]))
    if member.get("match"):
        found = await service.find_match(db, request.org, member["match"]["match_id"])
        out.match = match_public(found[0].mentor_id, found[1]) if found else None
    return out


@router.put(
    "/mentors/{mentor_id}",
    responses=problems(
        {403: "not a coordinator; or a mentor registering themself or raising their capacity"}
    ),
)
async def update_mentor(
    mentor_id: PersonId,
    body: MentorUpdate,
    caller: Caller,
    db: Db,
    publisher: Publisher,
    settings: MentoringSettings,
    roster: MentorRoster,
) -> MentorPublic:
    """Register a mentor or change their profile (coordinators; a mentor keeps their own current)."""
    fields = body.model_dump()
    for f in ("languages", "pathways", "lived_experience", "availability"):
        fields[f] = frozenset(fields[f])
    profile = model.MentorProfile(mentor_id=mentor_id, org=caller.org, **fields)
    by_mentor = not coordinates(caller)
    if by_mentor and (caller.sub != mentor_id or not caller.has_any(Role.MENTOR)):
        raise Problem(
            403, "Forbidden", "a coordinator sets mentors' profiles; a mentor keeps their own current"
        )
    try:
        slots = await service.save_mentor(db, profile, roster, by_mentor=by_mentor)
    except model.NotAllowed as exc:
        raise Problem(403, "Forbidden", str(exc)) from None
    await service.offer_free_slots(db, publisher, settings, caller.org, mentor_id, utcnow(), roster=roster)
    return mentor_public(await service.get_mentor(db, caller.org, mentor_id) or slots)


@router.get("/mentors/{mentor_id}", responses=problems({404: NO_MENTOR}))
async def read_mentor(mentor_id: PersonId, caller: Caller, db: Db) -> MentorPublic:
    """A mentor's profile and load (coordinators, or the mentor)."""
    slots = await service.get_mentor(db, caller.org, mentor_id)
    if slots is None or not (coordinates(caller) or caller.sub == mentor_id):
        raise NotFound("mentor")
    return mentor_public(slots)


@router.post(
    "/mentoring/requests", status_code=201, responses=problems({409: "an open request or match exists"})
)
async def create_mentor_request(
    body: MentorRequestCreate,
    caller: Member,
    db: Db,
    publisher: Publisher,
    settings: MentoringSettings,
    roster: MentorRoster,
) -> MentorRequestPublic:
    """Ask for a mentor: the best one with a free slot is proposed at once, or the request waits."""
    fields = body.model_dump()
    request = model.Request(
        id=new_id(),
        org=caller.org,
        member_id=caller.sub,
        languages=frozenset(body.languages),
        mentor_genders=frozenset(body.mentor_genders),
        pathways=frozenset(body.pathways),
        mode=body.mode,
        region=body.region,
        age=body.age,
        preferences=tuple(model.Preference(**p) for p in fields["preferences"]),
        requested_at=utcnow(),
    )
    try:
        member = await service.open_request(
            db, publisher, settings, request, request.requested_at, roster=roster
        )
    except model.MatchConflict as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    return await request_public(db, member)


@router.delete(
    "/mentoring/requests/{request_id}",
    status_code=204,
    responses=problems({404: NO_REQUEST, 409: "no open request, or its mentor has just accepted"}),
)
async def withdraw_mentor_request(
    request_id: MatchId,
    caller: Member,
    db: Db,
    publisher: Publisher,
    settings: MentoringSettings,
    roster: MentorRoster,
) -> None:
    """The member withdraws their open request (and the proposal a mentor is considering, if any)."""
    member = await service.request_of(db, caller.org, request_id)
    if member is None or member["member_id"] != caller.sub:
        raise NotFound("request")
    try:
        await service.withdraw(db, publisher, settings, caller.org, caller.sub, utcnow(), roster=roster)
    except model.MatchConflict as exc:
        raise Problem(409, "Conflict", str(exc)) from None


@router.get("/mentoring/me", responses=problems({404: "you have no request or match"}))
async def read_my_mentoring(caller: Member, db: Db) -> MentorRequestPublic:
    """The caller's own request, proposal and match."""
    member = await service.get_member(db, caller.org, caller.sub)
    if member is None or not member.get("request"):
        raise NotFound("request")
    return await request_public(db, member)


@router.get("/mentoring/requests/{request_id}", responses=problems({404: NO_REQUEST}))
async def read_mentor_request(request_id: MatchId, caller: Caller, db: Db) -> MentorRequestPublic:
    """One request: its member and the organization's coordinators may read it."""
    member = await service.request_of(db, caller.org, request_id)
    if member is None or not (member["member_id"] == caller.sub or coordinates(caller)):
        raise NotFound("request")
    return await request_public(db, member)


@router.get("/mentoring/requests/{request_id}/candidates", responses=problems({404: NO_REQUEST}))
async def list_candidates(request_id: MatchId, caller: Coordinator, db: Db) -> list[ExplanationPublic]:
    """Every mentor scored against a request, with the explanation, best first (coordinators)."""
    member = await service.request_of(db, caller.org, request_id)
    if member is None:
        raise NotFound("request")
    request = store.doc_to_request(member)
    explained = [model.explain(s.profile, request) for s in await service.all_mentors(db, caller.org)]
    explained.sort(key=lambda e: (not e.feasible, -e.score, e.mentor_id))
    return [explanation_public(e) for e in explained[:50]]


async def _held_by_caller(db: Db, caller: Caller, match_id: str) -> tuple[model.MentorProfile, model.Held]:
    found = await service.find_match(db, caller.org, match_id)
    if found is None or (
        caller.sub not in (found[0].mentor_id, found[1].member_id) and not coordinates(caller)
    ):
        raise NotFound("match")
    return found


async def _proposed_to_caller(db: Db, caller: Caller, match_id: str) -> None:
    """Only the mentor a proposal was made to answers it: anyone else gets 404."""
    mentor, _ = await _held_by_caller(db, caller, match_id)
    if mentor.mentor_id != caller.sub:
        raise NotFound("match")


@router.get("/mentoring/matches/{match_id}", responses=problems({404: NO_MATCH}))
async def read_match(match_id: MatchId, caller: Caller, db: Db) -> MatchPublic:
    """A proposal or active match: its mentor, its member and coordinators may read it."""
    mentor, held = await _held_by_caller(db, caller, match_id)
    return match_public(mentor.mentor_id, held)


@router.post(
    "/mentoring/matches/{match_id}/accept",
    responses=problems({404: NO_MATCH, 409: "already answered, or expired"}),
)
async def accept_match(
    match_id: MatchId,
    caller: Mentor,
    db: Db,
    publisher: Publisher,
    settings: MentoringSettings,
    roster: MentorRoster,
) -> MatchPublic:
    """The proposed mentor accepts: the match is active."""
    await _proposed_to_caller(db, caller, match_id)
    try:
        held = await service.accept(
            db, publisher, settings, caller.org, caller.sub, match_id, utcnow(), roster=roster
        )
    except model.MatchConflict as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    return match_public(caller.sub, held)


@router.post(
    "/mentoring/matches/{match_id}/decline",
    status_code=204,
    responses=problems({404: NO_MATCH, 409: "already answered, or expired"}),
)
async def decline_match(
    match_id: MatchId,
    caller: Mentor,
    db: Db,
    publisher: Publisher,
    settings: MentoringSettings,
    roster: MentorRoster,
) -> None:
    """The proposed mentor declines: the next candidate is proposed, never this mentor again."""
    await _proposed_to_caller(db, caller, match_id)
    try:
        await service.decline(
            db, publisher, settings, caller.org, caller.sub, match_id, utcnow(), roster=roster
        )
    except model.MatchConflict as exc:
        raise Problem(409, "Conflict", str(exc)) from None


@router.post(
    "/mentoring/matches/{match_id}/end",
    status_code=204,
    responses=problems({404: NO_MATCH, 409: "the match is not active"}),
)
async def end_match(
    match_id: MatchId,
    body: MatchEnd,
    caller: Caller,
    db: Db,
    publisher: Publisher,
    settings: MentoringSettings,
    roster: MentorRoster,
) -> None:
    """End an active match (its member, its mentor or a coordinator); the slot is free at once."""
    mentor, held = await _held_by_caller(db, caller, match_id)
    by: EndedBy = "coordinator"
    if caller.sub in (held.member_id, mentor.mentor_id):
        by = "member" if caller.sub == held.member_id else "mentor"
    # Going back on the waiting list is the member's choice: a mentor who ends it leaves them there
    # (they can withdraw); the member, or a coordinator acting for them, says.
    back = True if by == "mentor" else body.back_to_waiting
    try:
        await service.end(
            db,
            publisher,
            settings,
            caller.org,
            model.pairing(mentor, held),
            by,
            body.reason,
            back,
            utcnow(),
            roster=roster,
        )
    except model.MatchConflict as exc:
        raise Problem(409, "Conflict", str(exc)) from None


@router.post("/mentoring/rematch")
async def rematch_waiting_list(
    caller: Coordinator, db: Db, publisher: Publisher, settings: MentoringSettings
) -> RematchPublic:
    """Match the whole waiting list at once, in one globally optimal assignment (coordinators)."""
    outcome = await service.rematch(db, publisher, settings, caller.org, utcnow())
    return RematchPublic(**vars(outcome))


@router.get("/mentoring/coordinator")
async def read_coordinator_view(caller: Coordinator, db: Db) -> CoordinatorView:
    """The waiting list, the proposals waiting for an answer, and each mentor's load (coordinators)."""
    mentors = await service.all_mentors(db, caller.org)
    return CoordinatorView(
        waiting=[
            WaitingPublic(
                member_id=m["member_id"],
                request_id=m["request"]["id"],
                requested_at=m["request"]["requested_at"],
            )
            for m in await service.waiting_list(db, caller.org, limit=1000)
        ],
        proposals=[
            match_public(s.profile.mentor_id, h) for s in mentors for h in s.held if h.status == "proposed"
        ],
        mentors=[
            MentorLoad(
                mentor_id=s.profile.mentor_id,
                capacity=s.profile.capacity,
                active=sum(h.status == "active" for h in s.held),
                proposed=sum(h.status == "proposed" for h in s.held),
                paused=s.profile.paused,
            )
            for s in mentors
        ],
    )


@router.get("/mentoring/mentor", responses=problems({404: "you are not a mentor here"}))
async def read_mentor_view(caller: Mentor, db: Db) -> MentorView:
    """The caller's proposals to answer and their mentees: last check-in, overdue, milestones coming up."""
    slots = await service.get_mentor(db, caller.org, caller.sub)
    if slots is None:
        raise NotFound("mentor")
    now = utcnow()
    active = [h for h in slots.held if h.status == "active"]
    overdue = await checkins.overdue(db, caller.org, [h.match_id for h in active], now)
    coming = await milestones.upcoming(
        db, caller.org, [h.member_id for h in active], (now + MILESTONES_AHEAD).date()
    )
    mentees = []
    for h in active:
        soon = coming.get(h.member_id)
        mentees.append(
            MenteePublic(
                **match_public(caller.sub, h).model_dump(),
                last_check_in=await checkins.last_check_in(db, caller.org, h.match_id),
                check_in_overdue=h.match_id in overdue,
                next_milestone=Milestone(milestone=soon[0], on=soon[1]) if soon else None,
            )
        )
    return MentorView(
        proposals=[match_public(caller.sub, h) for h in slots.held if h.status == "proposed"], mentees=mentees
    )
