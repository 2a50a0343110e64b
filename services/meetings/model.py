"""Meeting rules, free of I/O: type codes and what scheduling a meeting announces."""

import datetime as dt
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.meetings import MeetingScheduled, MeetingScheduledData

SOURCE = "meetings"
TYPES_FILE = Path(__file__).parent / "data" / "types.json"


@cache
def known_types() -> frozenset[str]:
    """The Meeting Guide type codes (services/meetings/data/types.json)."""
    return frozenset(json.loads(TYPES_FILE.read_text()))


def unknown_types(codes: list[str]) -> list[str]:
    """Codes programs invented themselves: kept on the meeting, reported to whoever sent them."""
    return [c for c in codes if c not in known_types()]


@dataclass(frozen=True)
class Meeting:
    id: str
    org: str
    name: str
    slug: str
    day: int  # 0 = Sunday
    time: dt.time
    end_time: dt.time | None
    timezone: str
    types: list[str]
    formatted_address: str | None = None
    conference_url: str | None = None
    notes: str | None = None
    updated: datetime | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def online(self) -> bool:
        return self.conference_url is not None


def schedule_weekly(meeting: Meeting) -> list[Event]:
    return [
        MeetingScheduled.create(
            source=SOURCE,
            org=meeting.org,
            subject=meeting.id,
            data=MeetingScheduledData(
                meeting_id=meeting.id,
                name=meeting.name,
                day=meeting.day,
                time=meeting.time,
                timezone=meeting.timezone,
                types=meeting.types,
                online=meeting.online,
            ),
        )
    ]


def slugify(name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"{slug[:60]}-{new_id()[-6:]}"
