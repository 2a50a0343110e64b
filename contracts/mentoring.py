"""Events of the mentoring domain."""

from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Contract, Event


class MatchProposedData(Contract):
    match_id: str
    request_id: str
    mentor_id: str = Field(description="user id (token `sub`) of the proposed mentor")
    member_id: str = Field(description="user id of the member who asked")
    score: float


class MatchProposed(Event):
    domain: ClassVar[str] = "mentoring"
    name: ClassVar[str] = "match_proposed"
    version: ClassVar[int] = 1
    type: Literal["mentoring.match_proposed.v1"] = "mentoring.match_proposed.v1"
    data: MatchProposedData


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
