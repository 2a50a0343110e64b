"""Events of the notifications domain: one per delivery attempt's outcome, for insights.

`notifications.delivered.v1` (in-app only) is retired: nothing consumed it (a service's NATS user
reads only its own subjects, an organization's only its crisis subjects), and v2 says which channel
and which attempt, which v1's constant `channel` could not.
"""

from typing import ClassVar, Literal

from contracts.envelope import Contract, Event

Channel = Literal["in_app", "email", "sms", "webhook"]
Priority = Literal["critical", "high", "normal", "low"]


class NotificationOutcomeData(Contract):
    notification_id: str
    recipient_id: str
    channel: Channel
    attempt: int
    category: str
    priority: Priority
    cause_event_id: str


class NotificationDeliveredData(NotificationOutcomeData):
    pass


class NotificationFailedData(NotificationOutcomeData):
    reason: str  # a status code or an error class: never the message or the address
    # True when no attempt on this channel is left; `fallback` names the channel tried next, if any.
    final: bool
    fallback: Channel | None = None


class NotificationDelivered(Event):
    domain: ClassVar[str] = "notifications"
    name: ClassVar[str] = "delivered"
    version: ClassVar[int] = 2
    type: Literal["notifications.delivered.v2"] = "notifications.delivered.v2"
    data: NotificationDeliveredData


class NotificationFailed(Event):
    domain: ClassVar[str] = "notifications"
    name: ClassVar[str] = "failed"
    version: ClassVar[int] = 1
    type: Literal["notifications.failed.v1"] = "notifications.failed.v1"
    data: NotificationFailedData
