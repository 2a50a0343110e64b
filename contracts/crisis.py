"""Events of the crisis domain. Free text never travels in events: only ids and codes."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Contract, Event

Severity = Literal["low", "moderate", "high", "imminent"]
Channel = Literal["member", "mentor", "service"]
CatchAll = Literal["coordinator", "regional_team"]
Referral = Literal["988", "warm_handoff", "emergency_services", "peer_follow_up", "other", "none"]
Outcome = Literal["safe", "referred", "emergency_dispatched", "unreachable"]
CancelReason = Literal["raised_by_mistake", "duplicate", "member_safe", "other"]


class CrisisRaisedData(Contract):
    case_id: str
    member_id: str
    severity: Severity
    channel: Channel = "member"


class CrisisRaised(Event):
    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "raised"
    version: ClassVar[int] = 1
    type: Literal["crisis.raised.v1"] = "crisis.raised.v1"
    data: CrisisRaisedData


class CrisisAlertReceivedData(Contract):
    case_id: str = Field(description="the id in the answer: the case opens under it, unless the alert merges")
    member_id: str
    severity: Severity
    channel: Channel = "member"
    reported_by: str = Field(description="the member, or the mentor who reported them")


class CrisisAlertReceived(Event):
    """An alert accepted in a surge (low or moderate severity): the crisis service opens its case."""

    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "alert_received"
    version: ClassVar[int] = 1
    type: Literal["crisis.alert_received.v1"] = "crisis.alert_received.v1"
    data: CrisisAlertReceivedData


class CrisisUrgentAlertReceived(Event):
    """An alert of high or imminent severity accepted in a surge: opened before any routine one."""

    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "urgent_alert_received"
    version: ClassVar[int] = 1
    type: Literal["crisis.urgent_alert_received.v1"] = "crisis.urgent_alert_received.v1"
    data: CrisisAlertReceivedData


class CrisisEscalatedData(Contract):
    case_id: str
    level: int = Field(ge=1, description="1-based level of the protocol; the catch-all comes after the last")
    severity: Severity
    responder_ids: list[str] = Field(min_length=1, description="everyone notified together at this level")
    round: int = Field(default=1, ge=1, description="which pass through the ladder (it repeats 0-9 times)")
    catch_all: CatchAll | None = Field(default=None, description="set when this is the catch-all level")
    region: str | None = Field(default=None, description="the organization's region, for a regional team")
    alert_at: datetime | None = Field(
        default=None, description="when the person reached out (first deliveries are timed from it)"
    )
    responder_orgs: dict[str, str] | None = Field(
        default=None,
        description=(
            "the organization of each responder who is not on the case organization's staff (a regional"
            " team's members from the region's other organizations): their contacts are that one's"
        ),
    )


class CrisisEscalated(Event):
    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "escalated"
    version: ClassVar[int] = 1
    type: Literal["crisis.escalated.v1"] = "crisis.escalated.v1"
    data: CrisisEscalatedData


class CrisisSeverityRaisedData(Contract):
    case_id: str
    severity: Severity = Field(description="the new, graver severity: the case follows its protocol from now")
    previous: Severity
    channel: Channel = Field(description="who sent the graver alert")


class CrisisSeverityRaised(Event):
    """A graver alert joined an open case: responders see the new severity and its guidance."""

    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "severity_raised"
    version: ClassVar[int] = 1
    type: Literal["crisis.severity_raised.v1"] = "crisis.severity_raised.v1"
    data: CrisisSeverityRaisedData


class CrisisAcknowledgedData(Contract):
    case_id: str
    responder_id: str
    level: int = Field(ge=1)


class CrisisAcknowledged(Event):
    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "acknowledged"
    version: ClassVar[int] = 1
    type: Literal["crisis.acknowledged.v1"] = "crisis.acknowledged.v1"
    data: CrisisAcknowledgedData


class CrisisResolvedData(Contract):
    case_id: str
    responder_id: str
    outcome: Outcome
    referral: Referral
    partner_id: str | None = Field(default=None, description="the clinical partner of a warm handoff")


class CrisisResolved(Event):
    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "resolved"
    version: ClassVar[int] = 1
    type: Literal["crisis.resolved.v1"] = "crisis.resolved.v1"
    data: CrisisResolvedData


class CrisisCancelledData(Contract):
    case_id: str
    cancelled_by: str
    reason: CancelReason


class CrisisCancelled(Event):
    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "cancelled"
    version: ClassVar[int] = 1
    type: Literal["crisis.cancelled.v1"] = "crisis.cancelled.v1"
    data: CrisisCancelledData


class CrisisFollowUpScheduledData(Contract):
    case_id: str
    responder_id: str = Field(description="who makes the caring contact: the responder who resolved the case")
    member_id: str
    due_by: datetime = Field(description="at most 24 hours after resolution")
    responder_org: str | None = Field(
        default=None,
        description=(
            "the responder's organization when they are not on the case organization's staff (a regional"
            " team member from another organization of the region): their contacts are that one's"
        ),
    )
    region: str | None = Field(
        default=None, description="the case organization's region, set with responder_org (for their inbox)"
    )


class CrisisFollowUpScheduled(Event):
    """A caring contact after a crisis closes; notifications turns it into a message to the responder."""

    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "follow_up_scheduled"
    version: ClassVar[int] = 1
    type: Literal["crisis.follow_up_scheduled.v1"] = "crisis.follow_up_scheduled.v1"
    data: CrisisFollowUpScheduledData


class CrisisFollowUpCompletedData(Contract):
    case_id: str
    responder_id: str = Field(description="who marked the caring contact done")
    due_by: datetime
    completed_at: datetime
    on_time: bool = Field(description="done by its due time (within 24 hours of the resolution)")


class CrisisFollowUpCompleted(Event):
    """The caring contact was made; it leaves the responder's list."""

    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "follow_up_completed"
    version: ClassVar[int] = 1
    type: Literal["crisis.follow_up_completed.v1"] = "crisis.follow_up_completed.v1"
    data: CrisisFollowUpCompletedData


class CrisisResponderDeactivatedData(Contract):
    responder_id: str
    deactivated_by: str


class CrisisResponderDeactivated(Event):
    """A person left the organization's crisis staff: never targeted again, their pending messages stop."""

    domain: ClassVar[str] = "crisis"
    name: ClassVar[str] = "responder_deactivated"
    version: ClassVar[int] = 1
    type: Literal["crisis.responder_deactivated.v1"] = "crisis.responder_deactivated.v1"
    data: CrisisResponderDeactivatedData
