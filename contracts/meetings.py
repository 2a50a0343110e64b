"""Events of the meetings domain.

`meetings.scheduled.v1` is retired: it carried one weekday and one time, which a meeting that repeats
on several days, monthly or on given dates cannot fit, and nothing consumed it. The meeting events
carry what a message about the meeting needs; a reader that needs the whole listing reads the
directory (the meetings service's own read model reloads the meeting by id).
"""

import datetime as dt
from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Contract, Event

AttendanceOption = Literal["in_person", "online", "hybrid", "inactive"]


class MeetingData(Contract):
    meeting_id: str
    slug: str
    name: str = Field(max_length=255)
    timezone: str
    types: list[str] = Field(default_factory=list)
    attendance_option: AttendanceOption
    # Members of the listing organization who saved the meeting: the people told when it changes.
    saved_by: list[str] = Field(default_factory=list)


class MeetingScheduledData(MeetingData):
    pass


class MeetingChangedData(MeetingData):
    # Which listing fields changed (Meeting Guide names, or `occurrence_moved`): never their values.
    changed: list[str]


class MeetingCancelledData(MeetingData):
    pass


class OccurrenceCancelledData(MeetingData):
    occurrence: dt.date = Field(description="the occurrence's date on the meeting's own calendar")
    starts_at: dt.datetime = Field(description="when that occurrence would have started (UTC)")


class AttendanceRecordedData(Contract):
    meeting_id: str
    occurrence: dt.date
    member_id: str
    method: Literal["code", "facilitator"]


class MemberDisengagedData(Contract):
    member_id: str
    weeks: int = Field(ge=1, description="whole weeks since the member last attended a usual meeting")
    last_attended: dt.date | None
    usual_meeting_ids: list[str]


class MeetingScheduled(Event):
    domain: ClassVar[str] = "meetings"
    name: ClassVar[str] = "scheduled"
    version: ClassVar[int] = 2
    type: Literal["meetings.scheduled.v2"] = "meetings.scheduled.v2"
    data: MeetingScheduledData


class MeetingChanged(Event):
    domain: ClassVar[str] = "meetings"
    name: ClassVar[str] = "changed"
    version: ClassVar[int] = 1
    type: Literal["meetings.changed.v1"] = "meetings.changed.v1"
    data: MeetingChangedData


class MeetingCancelled(Event):
    domain: ClassVar[str] = "meetings"
    name: ClassVar[str] = "cancelled"
    version: ClassVar[int] = 1
    type: Literal["meetings.cancelled.v1"] = "meetings.cancelled.v1"
    data: MeetingCancelledData


class OccurrenceCancelled(Event):
    domain: ClassVar[str] = "meetings"
    name: ClassVar[str] = "occurrence_cancelled"
    version: ClassVar[int] = 1
    type: Literal["meetings.occurrence_cancelled.v1"] = "meetings.occurrence_cancelled.v1"
    data: OccurrenceCancelledData


class AttendanceRecorded(Event):
    domain: ClassVar[str] = "meetings"
    name: ClassVar[str] = "attendance_recorded"
    version: ClassVar[int] = 1
    type: Literal["meetings.attendance_recorded.v1"] = "meetings.attendance_recorded.v1"
    data: AttendanceRecordedData


class MemberDisengaged(Event):
    domain: ClassVar[str] = "meetings"
    name: ClassVar[str] = "member_disengaged"
    version: ClassVar[int] = 1
    type: Literal["meetings.member_disengaged.v1"] = "meetings.member_disengaged.v1"
    data: MemberDisengagedData


# Published by the meetings service, in the order of its package docstring.
MEETING_EVENTS: tuple[type[Event], ...] = (
    MeetingScheduled,
    MeetingChanged,
    MeetingCancelled,
    OccurrenceCancelled,
    AttendanceRecorded,
    MemberDisengaged,
)
