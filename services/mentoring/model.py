"""Matching and the life of a match, free of I/O.

Who fits a request (hard constraints), how well (weighted preferences plus load balance, as integer
points with an explanation a coordinator can read), and the states a match goes through: proposed
to a mentor, then accepted (active), declined or expired, and an active match ended. A mentor's
slots are the matches they hold (proposed or active), kept on the mentor: capacity is checked and a
slot taken in one write of one document.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from contracts.envelope import Event
from contracts.mentoring import (
    EndedBy,
    EndReason,
    MatchAccepted,
    MatchData,
    MatchDeclined,
    MatchEnded,
    MatchEndedData,
    MatchExpired,
    MatchProposed,
    MatchProposedData,
    MatchWithdrawn,
)

SOURCE = "mentoring"
LONG_AGO = dt.datetime.min.replace(tzinfo=dt.UTC)

Gender = Literal["female", "male", "nonbinary"]
Pathway = Literal["12_step", "smart_recovery", "mar_friendly", "faith_based", "secular"]
Mode = Literal["online", "in_person", "either"]
PreferenceKind = Literal["pathway", "lived_experience", "gender", "language", "region", "availability"]
Status = Literal["proposed", "active"]

# A preference's points are its share of 100 over the request's weights; a mentor's spare capacity
# adds up to LOAD_POINTS, enough to choose between candidates who fit equally, not to outweigh a fit.
PREFERENCE_POINTS = 100
LOAD_POINTS = 10


@dataclass(frozen=True)
class MentorProfile:
    mentor_id: str
    org: str
    capacity: int
    load: int = 0  # proposals and active matches held now
    languages: frozenset[str] = frozenset({"en"})
    gender: Gender | None = None
    age_min: int | None = None  # the ages of members they take
    age_max: int | None = None
    pathways: frozenset[Pathway] = frozenset()
    lived_experience: frozenset[str] = frozenset()
    region: str | None = None
    online: bool = True
    in_person: bool = False
    availability: frozenset[str] = frozenset()  # "<day 0-6, 0 = Sunday>:<morning|afternoon|evening>"
    paused: bool = False

    @property
    def free_slots(self) -> int:
        return 0 if self.paused else max(self.capacity - self.load, 0)


@dataclass(frozen=True)
class Preference:
    kind: PreferenceKind
    value: str
    weight: int  # 1-5


@dataclass(frozen=True)
class Request:
    id: str
    org: str
    member_id: str
    # Hard constraints: a mentor who fails one is never proposed.
    languages: frozenset[str] = frozenset({"en"})  # the mentor speaks at least one
    mentor_genders: frozenset[Gender] = frozenset()  # empty: any
    pathways: frozenset[Pathway] = frozenset()  # empty: any; otherwise the mentor follows one of them
    mode: Mode = "either"
    region: str | None = None  # where the member meets in person
    age: int | None = None  # checked against the mentor's age range when given
    preferences: tuple[Preference, ...] = ()
    excluded: frozenset[str] = frozenset()  # mentors who declined it or let it expire
    requested_at: dt.datetime = LONG_AGO


@dataclass(frozen=True)
class Check:
    """One hard constraint and whether the mentor meets it; `detail` uses codes, never a name."""

    constraint: str
    held: bool
    detail: str


@dataclass(frozen=True)
class PreferenceLine:
    kind: PreferenceKind
    value: str
    weight: int
    held: bool
    points: int


@dataclass(frozen=True)
class Explanation:
    mentor_id: str
    feasible: bool
    checks: tuple[Check, ...]
    preferences: tuple[PreferenceLine, ...]
    load_points: int
    score: int


@dataclass(frozen=True)
class Held:
    """A slot a mentor holds: a proposal waiting for their answer, or an active match."""

    match_id: str
    request_id: str
    member_id: str
    status: Status
    score: int
    since: dt.datetime
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class Pairing:
    """An active match, as check-ins and milestones see it."""

    match_id: str
    org: str
    mentor_id: str
    member_id: str
    since: dt.datetime


class MatchConflict(Exception):
    """The match is not in a state that allows this (already answered, expired, ended)."""


class NotAllowed(Exception):
    """The caller may not make this change (a mentor raising their own capacity)."""


# --- fit --------------------------------------------------------------------------------------


def checks(mentor: MentorProfile, request: Request) -> tuple[Check, ...]:
    both = sorted(mentor.languages & request.languages)
    out = [
        Check("organization", mentor.org == request.org, "same organization"),
        Check("not_themself", mentor.mentor_id != request.member_id, "a member is not their own mentor"),
        Check("active", not mentor.paused, "paused" if mentor.paused else "taking mentees"),
        Check(
            "not_declined_before", mentor.mentor_id not in request.excluded, "not declined or expired before"
        ),
        Check("language", bool(both), f"shared: {', '.join(both) or 'none'}"),
    ]
    if request.mentor_genders:
        out.append(
            Check("gender", mentor.gender in request.mentor_genders, f"mentor: {mentor.gender or 'unstated'}")
        )
    if request.pathways:
        shared = sorted(mentor.pathways & request.pathways)
        out.append(Check("pathway", bool(shared), f"shared: {', '.join(shared) or 'none'}"))
    if request.mode == "online":
        out.append(Check("mode", mentor.online, "meets online" if mentor.online else "in person only"))
    elif request.mode == "in_person":
        near = mentor.in_person and mentor.region is not None and mentor.region == request.region
        out.append(
            Check("mode", near, "meets in person in the member's region" if near else "not in person nearby")
        )
    if request.age is not None and (mentor.age_min is not None or mentor.age_max is not None):
        low, high = mentor.age_min or 0, mentor.age_max or 200
        out.append(Check("age", low <= request.age <= high, f"takes ages {low}-{high}"))
    return tuple(out)


def feasible(mentor: MentorProfile, request: Request) -> bool:
    return all(c.held for c in checks(mentor, request))


def _holds(mentor: MentorProfile, p: Preference) -> bool:
    match p.kind:
        case "pathway":
            return p.value in mentor.pathways
        case "lived_experience":
            return p.value in mentor.lived_experience
        case "gender":
            return p.value == mentor.gender
        case "language":
            return p.value in mentor.languages
        case "region":
            return p.value == mentor.region
        case "availability":
            return p.value in mentor.availability


def preference_lines(mentor: MentorProfile, request: Request) -> tuple[PreferenceLine, ...]:
    """Each preference's share of PREFERENCE_POINTS, by its weight, earned when the mentor meets it."""
    total = sum(p.weight for p in request.preferences)
    return tuple(
        PreferenceLine(p.kind, p.value, p.weight, held, PREFERENCE_POINTS * p.weight // total if held else 0)
        for p in request.preferences
        for held in (_holds(mentor, p),)
    )


def preference_points(mentor: MentorProfile, request: Request) -> int:
    return sum(line.points for line in preference_lines(mentor, request))


def load_points(capacity: int, load: int) -> int:
    """Points for giving a mentor who holds `load` of `capacity` slots one more mentee: the emptier,
    the more, so members spread over mentors rather than filling the first ones."""
    return LOAD_POINTS * max(capacity - load, 0) // capacity


def score(mentor: MentorProfile, request: Request) -> int:
    return preference_points(mentor, request) + load_points(mentor.capacity, mentor.load)


def explain(mentor: MentorProfile, request: Request) -> Explanation:
    lines, load = preference_lines(mentor, request), load_points(mentor.capacity, mentor.load)
    return Explanation(
        mentor_id=mentor.mentor_id,
        feasible=feasible(mentor, request),
        checks=checks(mentor, request),
        preferences=lines,
        load_points=load,
        score=sum(line.points for line in lines) + load,
    )


def own_change_refused(before: MentorProfile | None, after: MentorProfile) -> str | None:
    """Why a mentor may not make this change to their own profile, or None: a coordinator registers
    a mentor and sets how many they take; the mentor keeps the rest current, and may take fewer."""
    if before is None:
        return "a coordinator registers you as a mentor first"
    if after.capacity > before.capacity:
        return "only a coordinator raises a mentor's capacity"
    return None


def ranked(mentors: Iterable[MentorProfile], request: Request) -> list[tuple[int, MentorProfile]]:
    """Mentors who fit the request and have a free slot, best first (ties: the lower mentor id)."""
    candidates = [(score(m, request), m) for m in mentors if m.free_slots > 0 and feasible(m, request)]
    return sorted(candidates, key=lambda c: (-c[0], c[1].mentor_id))


# --- the life of a match ------------------------------------------------------------------------


@dataclass(frozen=True)
class Slots:
    """A mentor's profile and the slots they hold: what one write of their document changes."""

    profile: MentorProfile
    held: tuple[Held, ...] = ()
    events: list[Event] = field(default_factory=list, compare=False)

    def find(self, match_id: str) -> Held | None:
        return next((h for h in self.held if h.match_id == match_id), None)

    def _with(self, held: Sequence[Held], event: Event) -> "Slots":
        return Slots(replace(self.profile, load=len(held)), tuple(held), [*self.events, event])

    def _without(self, match_id: str) -> list[Held]:
        return [h for h in self.held if h.match_id != match_id]


def _pair(mentor: MentorProfile, h: Held) -> MatchData:
    return MatchData(
        match_id=h.match_id, request_id=h.request_id, mentor_id=mentor.mentor_id, member_id=h.member_id
    )


def propose(
    slots: Slots, request: Request, match_id: str, now: dt.datetime, expires_after: dt.timedelta
) -> Slots:
    """Take one of the mentor's free slots for the request; MatchConflict if none is left, the mentor
    no longer fits (paused, changed) or already holds a slot for this member."""
    mentor = slots.profile
    if mentor.free_slots <= 0 or not feasible(mentor, request):
        raise MatchConflict("the mentor has no free slot for this request")
    if any(h.member_id == request.member_id for h in slots.held):
        raise MatchConflict("the mentor already holds a match with this member")
    h = Held(
        match_id, request.id, request.member_id, "proposed", score(mentor, request), now, now + expires_after
    )
    data = MatchProposedData(**_pair(mentor, h).model_dump(), score=h.score, expires_at=h.expires_at)
    event = MatchProposed.create(source=SOURCE, org=mentor.org, subject=match_id, data=data, time=now)
    return slots._with([*slots.held, h], event)


def accept(slots: Slots, match_id: str, now: dt.datetime) -> Slots:
    h = slots.find(match_id)
    if h is None or h.status != "proposed":
        raise MatchConflict("this proposal is no longer waiting for an answer")
    if h.expires_at is not None and now >= h.expires_at:
        raise MatchConflict("this proposal has expired")
    active = replace(h, status="active", since=now, expires_at=None)
    event = MatchAccepted.create(
        source=SOURCE, org=slots.profile.org, subject=match_id, data=_pair(slots.profile, h), time=now
    )
    return slots._with([active if x.match_id == match_id else x for x in slots.held], event)


def _free(
    slots: Slots, match_id: str, kind: type[MatchDeclined | MatchExpired | MatchWithdrawn], now: dt.datetime
) -> Slots:
    """A proposal answered no, left unanswered or withdrawn: its slot is free again."""
    h = slots.find(match_id)
    if h is None or h.status != "proposed":
        raise MatchConflict("this proposal is no longer waiting for an answer")
    data = _pair(slots.profile, h)
    event = kind.create(source=SOURCE, org=slots.profile.org, subject=match_id, data=data, time=now)
    return slots._with(slots._without(match_id), event)


def decline(slots: Slots, match_id: str, now: dt.datetime) -> Slots:
    return _free(slots, match_id, MatchDeclined, now)


def withdraw(slots: Slots, match_id: str, now: dt.datetime) -> Slots:
    """The member withdrew their request before the mentor answered."""
    return _free(slots, match_id, MatchWithdrawn, now)


def expire(slots: Slots, match_id: str, now: dt.datetime) -> Slots | None:
    """Free the slot of a proposal nobody answered in time; None when there is nothing to expire."""
    h = slots.find(match_id)
    if h is None or h.status != "proposed" or h.expires_at is None or now < h.expires_at:
        return None
    return _free(slots, match_id, MatchExpired, now)


def end(
    slots: Slots, match_id: str, ended_by: EndedBy, reason: EndReason, back_to_waiting: bool, now: dt.datetime
) -> Slots:
    h = slots.find(match_id)
    if h is None or h.status != "active":
        raise MatchConflict("this match is not active")
    data = MatchEndedData(
        **_pair(slots.profile, h).model_dump(),
        ended_by=ended_by,
        reason=reason,
        back_to_waiting=back_to_waiting,
    )
    event = MatchEnded.create(source=SOURCE, org=slots.profile.org, subject=match_id, data=data, time=now)
    return slots._with(slots._without(match_id), event)


def pairing(mentor: MentorProfile, h: Held) -> Pairing:
    return Pairing(h.match_id, mentor.org, mentor.mentor_id, h.member_id, h.since)
