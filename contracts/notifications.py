"""Events of the notifications domain."""

from typing import ClassVar, Literal

from contracts.envelope import Contract, Event


class NotificationDeliveredData(Contract):
    notification_id: str
    recipient_id: str
    channel: Literal["in_app"]
    category: str
    cause_event_id: str


class NotificationDelivered(Event):
    domain: ClassVar[str] = "notifications"
    name: ClassVar[str] = "delivered"
    version: ClassVar[int] = 1
    type: Literal["notifications.delivered.v1"] = "notifications.delivered.v1"
    data: NotificationDeliveredData
