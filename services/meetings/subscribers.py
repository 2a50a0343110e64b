"""Meetings event handlers: meetings follows its own AttendanceRecorded, so a member's history gets
every attendance recorded, even one whose writer died before it wrote the history."""

from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.meetings import AttendanceRecorded
from services.meetings.attendance import service as attendance
from services.meetings.settings import Settings
from shared.messaging.broker import subscribe
from shared.messaging.streams import Subscription
from shared.telemetry import EVENT_ID, ORG, tag_current_span

SERVICE = "meetings"
ATTENDANCE = Subscription(SERVICE, AttendanceRecorded)
SUBSCRIPTIONS: tuple[Subscription, ...] = (ATTENDANCE,)


def register(broker: NatsBroker, db: AsyncDatabase[dict[str, Any]], settings: Settings) -> None:

    @subscribe(broker, ATTENDANCE)
    async def on_attendance_recorded(event: AttendanceRecorded) -> None:
        """The member's history has the attendance, and their disengagement check follows it."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await attendance.catch_up(db, settings, event)
