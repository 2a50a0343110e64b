"""Events of the meetings domain."""

import datetime as dt
from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Contract, Event


class MeetingScheduledData(Contract):
    meeting_id: str
    name: str = Field(max_length=200)
    day: int = Field(ge=0, le=6, description="0 = Sunday, as in the Meeting Guide format")
    time: dt.time
    timezone: str
    types: list[str] = Field(default_factory=list)
    online: bool = False


class MeetingScheduled(Event):
    domain: ClassVar[str] = "meetings"
    name: ClassVar[str] = "scheduled"
    version: ClassVar[int] = 1
    type: Literal["meetings.scheduled.v1"] = "meetings.scheduled.v1"
    data: MeetingScheduledData
