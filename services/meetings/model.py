"""Meeting rules, free of I/O: what a listing holds, who can attend how, and what each change announces.

A listing uses the Meeting Guide field names (DESIGN.md section 10), so the feed maps onto it field by
field; a meeting is a listing plus what the network keeps about it (its organization, its slug, its
cancelled or moved occurrences, whether it is cancelled).
"""

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    EmailStr,
    Field,
    TypeAdapter,
    field_serializer,
    field_validator,
    model_validator,
)

from contracts.envelope import Event
from contracts.meetings import (
    AttendanceOption,
    MeetingCancelled,
    MeetingCancelledData,
    MeetingChanged,
    MeetingChangedData,
    MeetingData,
    MeetingScheduled,
    MeetingScheduledData,
    OccurrenceCancelled,
    OccurrenceCancelledData,
)
from shared.inputs import CalendarDate, Strict, Text, TimeOfDay, TimeZone

SOURCE = "meetings"
TYPES_FILE = Path(__file__).parent / "data" / "types.json"
# "Temporarily closed": the Meeting Guide code that makes an in-person meeting inactive.
TEMPORARILY_CLOSED = "TC"
SLUG_LENGTH = 64  # the Meeting Guide schema's limit


# Words for schedules, shared by the feed's carried lines and the pages (0 = Sunday, as `day`).
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
# The Meeting Guide's `updated`: UTC, "YYYY-MM-DD HH:MM:SS".
UPDATED_FORMAT = "%Y-%m-%d %H:%M:%S"


@cache
def type_names() -> dict[str, str]:
    """Type code -> English name, from the Meeting Guide's list (services/meetings/data/types.json)."""
    names: dict[str, dict[str, str]] = json.loads(TYPES_FILE.read_text())
    return {code: text["en"] for code, text in names.items()}


def known_types() -> frozenset[str]:
    """The Meeting Guide type codes."""
    return frozenset(type_names())


def unknown_types(codes: list[str]) -> list[str]:
    """Codes programs invented themselves: kept on the meeting, reported to whoever sent them."""
    return [c for c in codes if c not in known_types()]


@cache
def _url_adapter() -> TypeAdapter[AnyHttpUrl]:
    return TypeAdapter(AnyHttpUrl)  # built once: building one costs more than validating a whole listing


def _http_url(value: str) -> str:
    _url_adapter().validate_python(value)
    return value  # kept as written, so a feed round-trips unchanged


TypeCode = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Sunday, as in the Meeting Guide format")]
Url = Annotated[str, Field(max_length=2000), AfterValidator(_http_url)]
Short = Annotated[Text, Field(max_length=255)]
Long = Annotated[Text, Field(max_length=4000)]
# The Meeting Guide's own pattern: digits, a leading +, and , * # for one-tap dialling.
ConferencePhone = Annotated[str, Field(max_length=64, pattern=r"^[+]?\d{1,15}(?:[,*#]+\d+)*$")]


class MonthlyRule(Strict):
    """The nth weekday of every month: nth 1-5, or -1 for the last ("last Friday")."""

    nth: int = Field(description="1 = first, 2 = second ... 5 = fifth, -1 = last")
    day: Weekday

    @field_validator("nth")
    @classmethod
    def _nth(cls, value: int) -> int:
        if value not in (1, 2, 3, 4, 5, -1):
            raise ValueError("nth is 1 to 5, or -1 for the last")
        return value


class Listing(Strict):
    """Everything a meeting's listing says, in Meeting Guide field names; what org admins send."""

    name: Short = Field(min_length=1)
    # When: weekly on `day` (one weekday or several), monthly on `monthly`, and/or on `dates`.
    day: Weekday | list[Weekday] | None = None
    monthly: list[MonthlyRule] = Field(default_factory=list, max_length=10)
    dates: list[CalendarDate] = Field(default_factory=list, max_length=366, description="one-off dates")
    time: TimeOfDay = Field(description='wall-clock start, "HH:MM", in the meeting\'s time zone')
    end_time: TimeOfDay | None = None
    timezone: TimeZone = Field(description="IANA time zone, e.g. America/Chicago")
    types: list[TypeCode] = Field(default_factory=list, max_length=30)
    notes: Long | None = None
    # Where
    formatted_address: Short | None = None
    address: Short | None = None
    city: Short | None = None
    state: Short | None = None
    postal_code: Annotated[Text, Field(max_length=20)] | None = None
    country: Short | None = None
    location: Short | None = None
    location_notes: Long | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    approximate: bool | None = Field(default=None, description="the address is only approximate")
    region: Short | None = None
    sub_region: Short | None = None
    regions: list[Short] = Field(default_factory=list, max_length=10)
    # Online
    conference_url: Url | None = None
    conference_url_notes: Long | None = None
    conference_phone: ConferencePhone | None = None
    conference_phone_notes: Long | None = None
    # Who runs it
    group: Short | None = None
    group_notes: Long | None = None
    url: Url | None = None
    edit_url: Url | None = None
    feedback_url: Url | None = None
    feedback_emails: list[EmailStr] = Field(default_factory=list, max_length=5)
    venmo: Short | None = None
    square: Short | None = None
    paypal: Short | None = None
    entity: Short | None = None
    entity_email: EmailStr | None = None
    entity_location: Short | None = None
    entity_logo: Url | None = None
    entity_phone: Short | None = None
    entity_website_url: Url | None = None
    contact_1_name: Short | None = None
    contact_1_email: EmailStr | None = None
    contact_1_phone: Short | None = None
    contact_2_name: Short | None = None
    contact_2_email: EmailStr | None = None
    contact_2_phone: Short | None = None
    contact_3_name: Short | None = None
    contact_3_email: EmailStr | None = None
    contact_3_phone: Short | None = None

    @field_validator("time", "end_time")
    @classmethod
    def _minutes(cls, value: dt.time | None) -> dt.time | None:
        # The feed has minutes only; seconds would not survive an export.
        return value.replace(second=0, microsecond=0) if value else None

    @field_serializer("time", "end_time", when_used="json-unless-none")
    def _hh_mm(self, value: dt.time) -> str:
        return value.strftime("%H:%M")  # the feed's "HH:MM"

    @model_validator(mode="after")
    def _complete(self) -> "Listing":
        if not (self.weekdays or self.monthly or self.dates):
            raise ValueError("a meeting needs a day (or days), a monthly rule, or dates")
        if not (self.formatted_address or self.address or self.conference_url or self.conference_phone):
            raise ValueError("a meeting needs an address, a conference_url or conference_phone, or both")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together")
        return self

    @property
    def weekdays(self) -> list[int]:
        days = [self.day] if isinstance(self.day, int) else (self.day or [])
        return sorted(set(days))

    @property
    def online(self) -> bool:
        return bool(self.conference_url or self.conference_phone)


def attendance_option(listing: Listing) -> AttendanceOption:
    """As the Meeting Guide apps derive it: a temporarily closed place leaves only the online part."""
    in_person = bool(listing.formatted_address or listing.address) and not listing.approximate
    if TEMPORARILY_CLOSED in listing.types:
        in_person = False
    if in_person and listing.online:
        return "hybrid"
    if listing.online:
        return "online"
    return "in_person" if in_person else "inactive"


@dataclass(frozen=True)
class Moved:
    """One occurrence held at another wall-clock time (in the meeting's zone) than its rule says."""

    occurrence: dt.date
    to: datetime  # naive: wall-clock in the meeting's time zone


@dataclass(frozen=True)
class Meeting:
    id: str
    org: str
    slug: str
    listing: Listing
    updated: datetime
    status: Literal["active", "cancelled"] = "active"
    cancelled_occurrences: tuple[dt.date, ...] = ()
    moved: tuple[Moved, ...] = field(default=())

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


# Slugs


def slug_base(name: str) -> str:
    """A readable, URL-safe slug from a name: accents dropped, runs of anything else become one dash."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[: SLUG_LENGTH - 6].strip("-") or "meeting"


def slug_candidates(base: str) -> list[str]:
    """The base first; a numbered suffix only when it is taken."""
    return [base, *(f"{base[: SLUG_LENGTH - 5]}-{n}" for n in range(2, 1000))]


# What changes announce


def _data(m: Meeting, saved_by: list[str]) -> dict[str, Any]:
    return MeetingData(
        meeting_id=m.id,
        slug=m.slug,
        name=m.listing.name,
        timezone=m.listing.timezone,
        types=m.listing.types,
        attendance_option=attendance_option(m.listing),
        saved_by=saved_by,
    ).model_dump()


def scheduled(m: Meeting) -> list[Event]:
    data = MeetingScheduledData(**_data(m, []))
    return [MeetingScheduled.create(source=SOURCE, org=m.org, subject=m.id, data=data)]


def changed_fields(old: Listing, new: Listing) -> list[str]:
    before, after = old.model_dump(), new.model_dump()
    return [name for name in Listing.model_fields if before[name] != after[name]]


def update(m: Meeting, listing: Listing, now: datetime, saved_by: list[str]) -> tuple[Meeting, list[Event]]:
    """A new listing for a meeting; nothing is announced when nothing changed."""
    changed = changed_fields(m.listing, listing)
    if not changed:
        return m, []
    new = replace(m, listing=listing, updated=now)
    data = MeetingChangedData(**_data(new, saved_by), changed=changed)
    return new, [MeetingChanged.create(source=SOURCE, org=m.org, subject=m.id, data=data)]


def cancel(m: Meeting, now: datetime, saved_by: list[str]) -> tuple[Meeting, list[Event]]:
    if m.cancelled:
        return m, []
    new = replace(m, status="cancelled", updated=now)
    data = MeetingCancelledData(**_data(new, saved_by))
    return new, [MeetingCancelled.create(source=SOURCE, org=m.org, subject=m.id, data=data)]


def cancel_occurrence(
    m: Meeting, occurrence: dt.date, starts_at: datetime, now: datetime, saved_by: list[str]
) -> tuple[Meeting, list[Event]]:
    """Cancel one occurrence (its date on the meeting's calendar); cancelling it again changes nothing."""
    if occurrence in m.cancelled_occurrences:
        return m, []
    new = replace(m, cancelled_occurrences=tuple(sorted({*m.cancelled_occurrences, occurrence})), updated=now)
    data = OccurrenceCancelledData(
        **_data(new, saved_by), occurrence=occurrence, starts_at=starts_at.astimezone(dt.UTC)
    )
    return new, [OccurrenceCancelled.create(source=SOURCE, org=m.org, subject=m.id, data=data)]


def move_occurrence(
    m: Meeting, occurrence: dt.date, to: datetime, now: datetime, saved_by: list[str]
) -> tuple[Meeting, list[Event]]:
    """Hold one occurrence at another wall-clock time; announced as a change."""
    moved = tuple(
        sorted(
            (*(x for x in m.moved if x.occurrence != occurrence), Moved(occurrence, to)),
            key=lambda x: x.occurrence,
        )
    )
    if moved == m.moved:
        return m, []
    new = replace(m, moved=moved, updated=now)
    data = MeetingChangedData(**_data(new, saved_by), changed=["occurrence_moved"])
    return new, [MeetingChanged.create(source=SOURCE, org=m.org, subject=m.id, data=data)]
