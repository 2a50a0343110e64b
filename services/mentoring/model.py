"""Matching, free of I/O: who is available and who fits a request best."""

from dataclasses import dataclass, field

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.mentoring import MatchProposed, MatchProposedData

SOURCE = "mentoring"


@dataclass(frozen=True)
class Mentor:
    mentor_id: str
    org: str
    capacity: int
    active_mentees: int = 0
    languages: tuple[str, ...] = ("en",)
    focus: tuple[str, ...] = ()
    accepting: bool = True

    @property
    def available(self) -> bool:
        return self.accepting and self.active_mentees < self.capacity


@dataclass(frozen=True)
class MentorRequest:
    id: str
    org: str
    member_id: str
    languages: tuple[str, ...] = ("en",)
    focus: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    id: str
    org: str
    request_id: str
    mentor_id: str
    member_id: str
    score: float
    events: list[Event] = field(default_factory=list, compare=False)


def score(mentor: Mentor, request: MentorRequest) -> float:
    """Shared language matters most, then shared focus, then spare capacity (spreads the load)."""
    if not set(mentor.languages) & set(request.languages):
        return 0.0
    focus = len(set(mentor.focus) & set(request.focus)) / len(request.focus) if request.focus else 0.5
    spare = (mentor.capacity - mentor.active_mentees) / mentor.capacity
    return round(0.5 + 0.35 * focus + 0.15 * spare, 4)


def ranked(mentors: list[Mentor], request: MentorRequest) -> list[tuple[float, Mentor]]:
    """Available mentors of the request's organization who speak a shared language, best first."""
    candidates = [
        (score(m, request), m)
        for m in mentors
        if m.org == request.org and m.available and m.mentor_id != request.member_id
    ]
    return sorted((c for c in candidates if c[0] > 0), key=lambda c: (-c[0], c[1].mentor_id))


def propose(mentor: Mentor, request: MentorRequest, match_score: float) -> Match:
    match_id = new_id()
    event = MatchProposed.create(
        source=SOURCE,
        org=request.org,
        subject=match_id,
        data=MatchProposedData(
            match_id=match_id,
            request_id=request.id,
            mentor_id=mentor.mentor_id,
            member_id=request.member_id,
            score=match_score,
        ),
    )
    return Match(
        id=match_id,
        org=request.org,
        request_id=request.id,
        mentor_id=mentor.mentor_id,
        member_id=request.member_id,
        score=match_score,
        events=[event],
    )
