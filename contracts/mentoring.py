"""Events of the mentoring domain.

They carry ids, codes and dates only: never a check-in's note, a mood, a craving score, a
recovery date or a request's preferences. Who hears about them is notifications' catalogue.
"""

import datetime as dt
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Contract, Event

EndedBy = Literal["member", "mentor", "coordinator"]
EndReason = Literal[
    "goals_met", "not_a_fit", "member_unavailable", "mentor_unavailable", "no_contact", "other"
]
MilestoneAudience = Literal["nobody", "mentor", "group"]
DriftSignal = Literal["missed_meetings", "missed_check_ins"]


class MatchData(Contract):
    """The pair a match event is about."""

    match_id: str
    request_id: str
    mentor_id: str = Field(description="user id (token `sub`) of the mentor")
    member_id: str = Field(description="user id of the member who asked")


class MatchProposedData(MatchData):
    score: float
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the proposal expires if the mentor has not answered"
    )


class MatchProposed(Event):
    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "match_proposed"
    version: ClassVar[int] = 1
    type: Literal["mentoring.match_proposed.v1"] = "mentoring.match_proposed.v1"
    data: MatchProposedData


class MatchAccepted(Event):
    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "match_accepted"
    version: ClassVar[int] = 1
    type: Literal["mentoring.match_accepted.v1"] = "mentoring.match_accepted.v1"
    data: MatchData


class MatchDeclined(Event):
    """The mentor said no; the request goes on to the next candidate (never back to this mentor)."""

    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "match_declined"
    version: ClassVar[int] = 1
    type: Literal["mentoring.match_declined.v1"] = "mentoring.match_declined.v1"
    data: MatchData


class MatchExpired(Event):
    """The mentor did not answer in time; the request goes on to the next candidate."""

    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "match_expired"
    version: ClassVar[int] = 1
    type: Literal["mentoring.match_expired.v1"] = "mentoring.match_expired.v1"
    data: MatchData


class MatchWithdrawn(Event):
    """The member withdrew their request while a mentor was considering it: the mentor's slot is free."""

    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "match_withdrawn"
    version: ClassVar[int] = 1
    type: Literal["mentoring.match_withdrawn.v1"] = "mentoring.match_withdrawn.v1"
    data: MatchData


class MatchEndedData(MatchData):
    ended_by: EndedBy
    reason: EndReason
    back_to_waiting: bool = Field(description="the member asked to be matched again")


class MatchEnded(Event):
    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "match_ended"
    version: ClassVar[int] = 1
    type: Literal["mentoring.match_ended.v1"] = "mentoring.match_ended.v1"
    data: MatchEndedData


class CheckInOverdueData(Contract):
    match_id: str
    member_id: str
    mentor_id: str
    due_at: AwareDatetime
    nudge: Literal["member", "mentor"] = Field(description="who is nudged: the member first, then the mentor")


class CheckInOverdue(Event):
    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "check_in_overdue"
    version: ClassVar[int] = 1
    type: Literal["mentoring.check_in_overdue.v1"] = "mentoring.check_in_overdue.v1"
    data: CheckInOverdueData


class MenteeDriftingData(Contract):
    match_id: str
    member_id: str
    mentor_id: str = Field(description="the only person told")
    signal: DriftSignal


class MenteeDrifting(Event):
    """A mentee is drifting away (missed meetings, a run of missed check-ins): their mentor is told."""

    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "mentee_drifting"
    version: ClassVar[int] = 1
    type: Literal["mentoring.mentee_drifting.v1"] = "mentoring.mentee_drifting.v1"
    data: MenteeDriftingData


class MilestoneReachedData(Contract):
    member_id: str
    milestone: str = Field(
        pattern=r"^[0-9]+[hdmy]$", description="24h, 30d, 60d, 90d, 6m, 9m, 1y, 18m, 2y ..."
    )
    reached_on: dt.date = Field(description="the member's own local date")
    audience: MilestoneAudience
    recipient_ids: list[str] = Field(
        default_factory=list, description="who the member chose to tell (empty for nobody)"
    )


class MilestoneReached(Event):
    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "milestone_reached"
    version: ClassVar[int] = 1
    type: Literal["mentoring.milestone_reached.v1"] = "mentoring.milestone_reached.v1"
    data: MilestoneReachedData


class CrisisAlertRequestedData(Contract):
    member_id: str = Field(description="the person at risk")
    requested_by: str = Field(description="user id of the mentor, or the rule, that raised the flag")
    severity: Literal["low", "moderate", "high", "imminent"] = "high"
    reason: Literal["mentor_report", "missed_check_ins", "risk_flag"] = "risk_flag"
    dedup_key: str | None = Field(
        default=None, max_length=128, description="merges repeated requests; defaults to the member id"
    )


class CrisisAlertRequested(Event):
    """Mentoring asks crisis to open (or add to) a case for a member its risk flags point at."""

    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "crisis_alert_requested"
    version: ClassVar[int] = 1
    type: Literal["mentoring.crisis_alert_requested.v1"] = "mentoring.crisis_alert_requested.v1"
    data: CrisisAlertRequestedData


# Published by the mentoring service, in the order of its package docstring.
MENTORING_EVENTS: tuple[type[Event], ...] = (
    MatchProposed,
    MatchAccepted,
    MatchDeclined,
    MatchExpired,
    MatchWithdrawn,
    MatchEnded,
    CheckInOverdue,
    MenteeDrifting,
    MilestoneReached,
    CrisisAlertRequested,
)
