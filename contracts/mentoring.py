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
