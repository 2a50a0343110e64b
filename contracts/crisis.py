"""Events of the crisis domain. Free text never travels in events: only ids and codes."""

from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Contract, Event

Severity = Literal["low", "moderate", "high", "imminent"]


class CrisisRaisedData(Contract):
    case_id: str
    member_id: str
    severity: Severity
    channel: Literal["member", "mentor", "service"] = "member"


class CrisisRaised(Event):
    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "raised"
    version: ClassVar[int] = 1
    type: Literal["crisis.raised.v1"] = "crisis.raised.v1"
    data: CrisisRaisedData


class CrisisEscalatedData(Contract):
    case_id: str
    level: int = Field(ge=1)
    severity: Severity
    responder_ids: list[str] = Field(min_length=1, description="everyone notified together at this level")


class CrisisEscalated(Event):
    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "escalated"
    version: ClassVar[int] = 1
    type: Literal["crisis.escalated.v1"] = "crisis.escalated.v1"
    data: CrisisEscalatedData
