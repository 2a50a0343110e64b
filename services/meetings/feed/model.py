"""The Meeting Guide feed, both ways, free of I/O: a meeting as a feed item, and a feed item as a listing.

The export is valid against the format's own JSON Schema (contracts/meeting_guide/); the import takes
real feeds as they are (extra fields, nulls, integer slugs, days as numbers, text or arrays, times such
as "7:30" or "19:30:00") and says what it did to each item: nothing is dropped without a word.
"""

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from annotated_types import MaxLen
from pydantic import BaseModel, EmailStr, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from services.meetings.model import (
    DAY_NAMES,
    ORDINALS,
    SLUG_LENGTH,
    UPDATED_FORMAT,
    ConferencePhone,
    Listing,
    Meeting,
    MonthlyRule,
    TypeCode,
    Url,
    slug_base,
    unknown_types,
)
from shared.inputs import TimeZone

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "contracts" / "meeting_guide"
SLUG = re.compile(r"^[A-Za-z0-9_-]+$")

# A feed item's fields that the network reads, besides the listing's own: `updated` is the network's
# own clock once imported, `attendance_option` is derived from the rest (model.attendance_option).
DERIVED = frozenset({"updated", "attendance_option"})
# Listing fields the Meeting Guide format does not have: exported as a labelled line in `notes` (see
# schedule_line), read back by from_feed.
NOT_IN_FORMAT = frozenset({"monthly", "dates"})
FEED_FIELDS = frozenset(Listing.model_fields) - NOT_IN_FORMAT

# Values the schema's patterns refuse travel in a free-text field, one labelled line each, at the end
# of that field. Why: the schema's address patterns accept only US-style ASCII addresses ("25 Bridge
# St E.", "Montréal", "K0K 1G0" all fail), and its type list is not ours; dropping such a value would
# lose where a meeting is, emitting it would make the whole feed invalid. A line in the notes is
# readable in every Meeting Guide app, and from_feed reads it back, so our own feed round-trips.
CARRIED: dict[str, tuple[str, str]] = {
    "formatted_address": ("location_notes", "Address"),
    "address": ("location_notes", "Street"),
    "city": ("location_notes", "City"),
    "state": ("location_notes", "State"),
    "postal_code": ("location_notes", "Postal code"),
    "conference_phone": ("conference_phone_notes", "Phone"),
    "types": ("notes", "Types"),
    # Not a field: the monthly rules and dates the format has no field for (see schedule_line).
    "schedule": ("notes", "Schedule"),
}
# The parts of an address travel together: a street kept without its city would be geocoded to
# somewhere else, which is worse for someone looking for the room than no street at all.
ADDRESS_PARTS = ("address", "city", "state", "postal_code")
MONTHLY = re.compile(rf"the ({'|'.join(ORDINALS.values())}) ({'|'.join(DAY_NAMES)})")


@cache
def _max_length(name: str) -> int:
    """A listing field's limit as model.py sets it: a text's length, or a list's count."""
    info = Listing.model_fields[name]
    found = [m.max_length for m in info.metadata if isinstance(m, MaxLen)]
    types: list[Any] = [info.annotation]
    while types and not found:
        for arg in get_args(types.pop(0)):
            if isinstance(arg, FieldInfo):
                found += [m.max_length for m in arg.metadata if isinstance(m, MaxLen)]
            else:
                types.append(arg)
    return found[0]


@cache
def _meeting_schema() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "meeting.schema.json").read_text())  # type: ignore[no-any-return]


@cache
def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(_meeting_schema()["properties"][name]["pattern"])


@cache
def format_types() -> frozenset[str]:
    """The type codes the format's schema lists (current, proposed and proposed changes)."""
    schema = json.loads((SCHEMA_DIR / "meeting-type.schema.json").read_text())
    return frozenset(code for option in schema["items"]["anyOf"] for code in option["enum"])


def _fits(name: str, value: str) -> bool:
    # The schema's patterns are ECMA-262, written in the subset Python's re reads the same way.
    return _pattern(name).search(value) is not None


def _append(text: str | None, lines: list[str]) -> str | None:
    if not lines:
        return text
    return "\n".join([*([text] if text else []), *lines])


# Export


@dataclass(frozen=True)
class Schedule:
    """When a meeting meets, as the schedule line says it."""

    weekly: list[int]
    monthly: list[MonthlyRule]
    dates: list[dt.date]

    @property
    def days(self) -> list[int]:
        """What to_feed writes in `day`: the weekly days and the monthly rules' weekdays."""
        return sorted({*self.weekly, *(r.day for r in self.monthly)})


def coming_dates(listing: Listing, today: dt.date | None) -> list[dt.date]:
    """The dates a feed lists: from today on (all of them without a today)."""
    return [d for d in listing.dates if today is None or d >= today]


def schedule_line(listing: Listing, today: dt.date | None) -> str | None:
    """The schedule in words that from_feed reads back, when `day` alone cannot say it.

    "every Tuesday; the first Sunday, the last Friday of the month; on 2026-12-24, 2027-01-07": words
    rather than codes, because Meeting Guide apps show the notes to the person looking for a meeting.
    """
    dates = coming_dates(listing, today)
    if not (listing.monthly or dates):
        return None
    parts = []
    if listing.weekdays:
        parts.append("every " + ", ".join(DAY_NAMES[d] for d in listing.weekdays))
    if listing.monthly:
        rules = ", ".join(f"the {ORDINALS[r.nth]} {DAY_NAMES[r.day]}" for r in listing.monthly)
        parts.append(f"{rules} of the month")
    if dates:
        parts.append("on " + ", ".join(d.isoformat() for d in dates))
    return "; ".join(parts)


def parse_schedule(text: str) -> Schedule | None:
    """A schedule line read back; None when the text is not one (someone's own words)."""
    weekly: list[int] | None = None
    monthly: list[MonthlyRule] | None = None
    dates: list[dt.date] | None = None
    try:
        for part in text.split("; "):
            if part.startswith("every ") and weekly is None:
                weekly = [DAY_NAMES.index(name) for name in part.removeprefix("every ").split(", ")]
            elif part.endswith(" of the month") and monthly is None:
                monthly = []
                for rule in part.removesuffix(" of the month").split(", "):
                    found = MONTHLY.fullmatch(rule)
                    if found is None:
                        return None
                    nth = next(n for n, word in ORDINALS.items() if word == found[1])
                    monthly.append(MonthlyRule(nth=nth, day=DAY_NAMES.index(found[2])))
            elif part.startswith("on ") and dates is None:
                dates = [dt.date.fromisoformat(d) for d in part.removeprefix("on ").split(", ")]
            else:
                return None
    except ValueError:  # a day name or a date that is not one
        return None
    return Schedule(weekly or [], monthly or [], dates or [])


def to_feed(meeting: Meeting, *, today: dt.date | None = None) -> dict[str, Any]:
    """The meeting as one Meeting Guide item, valid against meeting.schema.json.

    What the format cannot say is written in words or lost, as each case explains below. Cancelled
    meetings are not in a feed at all (feed_items leaves them out).
    """
    listing = meeting.listing
    item: dict[str, Any] = {"name": listing.name, "slug": meeting.slug}
    # Monthly rules (the first Sunday) and one-off dates have no field in the format. The weekdays
    # of monthly rules go in `day`, so apps list the meeting on the right day of the week; the whole
    # schedule goes in `notes` as a labelled line (CARRIED), which from_feed reads back. An app shows
    # a monthly meeting every week (its reader is told otherwise in the notes), and one held only on
    # dates has no `day`, which apps show as "by appointment". Past dates are left out, and so is a
    # meeting that has nothing but past dates (feed_items). Cancelled and moved occurrences are lost:
    # the format lists a schedule, not occurrences (the iCalendar feed carries them, as EXDATE and
    # RECURRENCE-ID).
    days = Schedule(listing.weekdays, listing.monthly, []).days
    if len(days) == 1:
        item["day"] = days[0]
    elif days:
        item["day"] = days
    item["time"] = listing.time.strftime("%H:%M")
    if listing.end_time:
        item["end_time"] = listing.end_time.strftime("%H:%M")
    values = listing.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    for name in Listing.model_fields:
        if name in item or name in NOT_IN_FORMAT or name in ("day", "end_time") or name not in values:
            continue
        item[name] = values[name]
    if listing.approximate is not None:
        item["approximate"] = "yes" if listing.approximate else "no"
    schedule = schedule_line(listing, today)
    if schedule:
        item["notes"] = _append(item.get("notes"), [f"{CARRIED['schedule'][1]}: {schedule}"])
    _carry_refused(item)
    item["updated"] = meeting.updated.astimezone(dt.UTC).strftime(UPDATED_FORMAT)
    return {k: v for k, v in item.items() if v not in (None, "", [])}


def _carry_refused(item: dict[str, Any]) -> None:
    """Move the values the schema's patterns refuse into their free-text field (see CARRIED)."""
    carried: dict[str, list[str]] = {}

    def carry(name: str, value: str) -> None:
        target, label = CARRIED[name]
        carried.setdefault(target, []).append(f"{label}: {value}")
        del item[name]

    if "formatted_address" in item and not _fits("formatted_address", item["formatted_address"]):
        carry("formatted_address", item["formatted_address"])
    parts = [p for p in ADDRESS_PARTS if p in item]
    if any(not _fits(p, item[p]) for p in parts):
        for p in parts:
            carry(p, item[p])
    if "conference_phone" in item and not _fits("conference_phone", item["conference_phone"]):
        carry("conference_phone", item["conference_phone"])
    outside = [t for t in item.get("types", []) if t not in format_types()]
    if outside:
        item["types"] = [t for t in item["types"] if t in format_types()]
        carried.setdefault("notes", []).append(f"{CARRIED['types'][1]}: {', '.join(outside)}")
    for target, lines in carried.items():
        item[target] = _append(item.get(target), lines)


def listed(meeting: Meeting, today: dt.date | None) -> bool:
    """Whether a feed lists the meeting: not when cancelled (the format has no such state), nor when
    it was held only on dates now past (an app would show it as "by appointment")."""
    listing = meeting.listing
    return not meeting.cancelled and bool(listing.weekdays or listing.monthly or coming_dates(listing, today))


def feed_items(meetings: list[Meeting], *, today: dt.date | None = None) -> list[dict[str, Any]]:
    return [to_feed(m, today=today) for m in meetings if listed(m, today)]


# Import


@dataclass(frozen=True)
class Parsed:
    slug: str  # the slug the meeting is kept under (the feed's, made URL-safe if it was not)
    listing: Listing
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    slug_or_index: str | int  # the item's slug when it has one, else its position in the feed
    reason: str


def _text(value: Any) -> str | None:
    """Text from a string or a number (postal codes and slugs come as numbers); None when empty."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    # Control characters (other than tab and line breaks) would make the listing refuse the item.
    cleaned = "".join(
        c for c in value if c in "\t\n\r" or unicodedata.category(c) not in ("Cc", "Cs")
    ).strip()
    return cleaned or None


def _time(value: Any) -> dt.time | None:
    """ "19:30", "7:30", "19:30:00", "7:30 PM", "7:30pm"; None for anything else (25:00 included)."""
    text = _text(value)
    if text is None:
        return None
    found = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?", text)
    if not found:
        return None
    hour, minute = int(found[1]), int(found[2])
    if found[4]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if found[4].lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


def _day(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value <= 6 else None


def _days(value: Any) -> list[int] | str:
    """The weekdays, or why there are none."""
    values = value if isinstance(value, list) else [value]
    days = [_day(v) for v in values]
    if not values or value in ("", None):
        return "no day: the network lists meetings by their weekday (a meeting by appointment has none)"
    if any(d is None for d in days):
        return f"day {json.dumps(value)} is not 0 (Sunday) to 6 (Saturday)"
    return sorted({d for d in days if d is not None})


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    return float(value) if isinstance(value, int | float) else None


def _approximate(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = (_text(value) or "").lower()
    return {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(text)


_URL: TypeAdapter[str] = TypeAdapter(Url)
_EMAIL = TypeAdapter(EmailStr)
_PHONE_FILLER = re.compile(r"[\s().-]")
_TYPE_CODE: TypeAdapter[str] = TypeAdapter(TypeCode)
_PHONE: TypeAdapter[str] = TypeAdapter(ConferencePhone)
TEXT_FIELDS = {
    name: _max_length(name)
    for name in (
        "name notes formatted_address address city state postal_code country location location_notes "
        "region sub_region conference_url_notes conference_phone_notes group group_notes venmo square "
        "paypal entity entity_location entity_phone contact_1_name contact_1_phone contact_2_name "
        "contact_2_phone contact_3_name contact_3_phone"
    ).split()
}
URL_FIELDS = ("conference_url", "url", "edit_url", "feedback_url", "entity_logo", "entity_website_url")
EMAIL_FIELDS = ("entity_email", "contact_1_email", "contact_2_email", "contact_3_email")


def _valid(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _read_schedule(value: str, day: Any) -> Schedule | None:
    """The schedule line to_feed wrote, when it is one and agrees with the item's `day`.

    A line that disagrees was written before someone changed the day elsewhere: the day wins, and
    the line stays in the notes as words.
    """
    schedule = parse_schedule(value)
    if schedule is None or not (schedule.monthly or schedule.dates):
        return None
    said = [] if day in (None, "", []) else _days(day)
    return schedule if said == schedule.days else None


def _recover_carried(data: dict[str, Any], day: Any) -> Schedule | None:
    """Read back the labelled lines to_feed wrote (see CARRIED): the values the schema refused, and
    the schedule the format has no field for."""
    by_label = {(target, label): name for name, (target, label) in CARRIED.items()}
    schedule = None
    for target in {t for t, _ in CARRIED.values()}:
        lines = (data.get(target) or "").split("\n")
        while lines:
            label, sep, value = lines[-1].partition(": ")
            name = by_label.get((target, label))
            if not sep or name is None or not value:
                break
            if name == "types":
                data["types"] = [*data.get("types", []), *(t.strip() for t in value.split(","))]
            elif name == "schedule":
                schedule = _read_schedule(value, day)
                if schedule is None:
                    break
            elif data.get(name) is not None:
                break  # the feed has the field itself: the line is someone's own words
            else:
                data[name] = value
            lines.pop()
        data[target] = "\n".join(lines) or None
    return schedule


def keep_past_dates(listing: Listing, current: Listing, today: dt.date) -> Listing:
    """The imported listing with the dates already past that the network has for it.

    A feed lists dates from today on (to_feed), so without them our own feed read back would
    change every meeting that met on a date before today.
    """
    past = [d for d in current.dates if d < today]
    if not past:
        return listing
    dates = sorted({*past, *listing.dates})[-_max_length("dates") :]
    return listing.model_copy(update={"dates": dates})


def feed_slug(item: dict[str, Any]) -> str | None:
    """The slug an item is imported under: the feed's own, made URL-safe when it is not."""
    raw = _text(item.get("slug"))
    if raw is None:
        return None
    return raw if SLUG.match(raw) and len(raw) <= SLUG_LENGTH else slug_base(raw)[:SLUG_LENGTH]


def duplicate(slug: str, first: int) -> str:
    """Why a second item with a slug is skipped: one feed lists each meeting once."""
    return f"slug {slug!r} is already item {first} of this feed"


def from_feed(item: Any, default_timezone: str, *, index: int = 0) -> Parsed | Skipped:
    """One feed item as a listing, with a note for everything changed or left out; or why not."""
    if not isinstance(item, dict):
        return Skipped(index, "not a JSON object")
    raw_slug = _text(item.get("slug"))
    slug = feed_slug(item)
    if raw_slug is None or slug is None:
        return Skipped(index, "no slug: the Meeting Guide format requires one")
    notes: list[str] = []
    if slug != raw_slug:
        notes.append(f"slug {raw_slug!r} is not URL-safe: kept as {slug!r}")
    present = {k: v for k, v in item.items() if v is not None}

    def skip(reason: str) -> Skipped:
        return Skipped(raw_slug, reason)

    extra = sorted(k for k in present if k not in FEED_FIELDS | DERIVED | {"slug"})
    if extra:
        notes.append("fields ignored: " + ", ".join(extra))

    data: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        text = _text(present.get(name))
        if text is None:
            if name in present and not isinstance(present[name], str | int | float):
                notes.append(f"{name} ignored: not text")
            continue
        data[name] = text
    _read_types(present.get("types"), data, notes)
    data["conference_phone"] = _text(present.get("conference_phone"))
    # Before the limits: the lines to_feed added to a field are not part of its text.
    schedule = _recover_carried(data, present.get("day"))
    for name, limit in TEXT_FIELDS.items():
        text = data.get(name)
        if text is not None and len(text) > limit:
            notes.append(f"{name} shortened to {limit} characters")
            data[name] = text[:limit].rstrip()
    if "name" not in data:
        return skip("no name")

    if schedule is not None:
        weekly = schedule.weekly
        data["day"] = weekly[0] if len(weekly) == 1 else weekly or None
        data["monthly"], data["dates"] = schedule.monthly, schedule.dates
    else:
        days = _days(present.get("day"))
        if isinstance(days, str):
            return skip(days)
        data["day"] = days[0] if len(days) == 1 else days
    start = _time(present.get("time"))
    if start is None:
        return skip(f"time {json.dumps(present.get('time'))} is not a time of day (HH:MM, 24-hour)")
    data["time"] = start.strftime("%H:%M")
    if "end_time" in present:
        end = _time(present["end_time"])
        if end is None:
            notes.append(f"end_time {json.dumps(present['end_time'])} ignored: not a time of day")
        else:
            data["end_time"] = end.strftime("%H:%M")
    zone = _text(present.get("timezone"))
    if zone is None:
        zone = default_timezone
        notes.append(f"no timezone: {default_timezone} assumed")
    try:
        TypeAdapter(TimeZone).validate_python(zone)
    except ValidationError:
        return skip(f"unknown time zone {zone!r}")
    data["timezone"] = zone

    if "types" in data:
        unknown = unknown_types(data["types"])
        if unknown:
            notes.append("unknown type codes kept: " + ", ".join(unknown))
    _read_place(present, data, notes)
    _read_links(present, data, notes)
    try:
        listing = Listing.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'meeting'}: {e['msg']}" for e in exc.errors()
        )
        return skip(problems)
    return Parsed(slug, listing, notes)


def _read_types(value: Any, data: dict[str, Any], notes: list[str]) -> None:
    if value is None:
        return
    codes = value if isinstance(value, list) else str(value).split(",")
    kept: list[str] = []
    refused: list[str] = []
    for code in codes:
        text = _text(code)
        if text is None:
            continue
        (kept if _valid(_TYPE_CODE, text) else refused).append(text)
    if refused:
        notes.append("type codes not kept (letters, digits, - and _ only): " + ", ".join(refused))
    most = _max_length("types")
    if len(kept) > most:
        notes.append(f"only the first {most} type codes kept")
    data["types"] = list(dict.fromkeys(kept))[:most]


def _read_place(present: dict[str, Any], data: dict[str, Any], notes: list[str]) -> None:
    if "approximate" in present:
        approximate = _approximate(present["approximate"])
        if approximate is None:
            notes.append(f"approximate {json.dumps(present['approximate'])} ignored: not yes or no")
        else:
            data["approximate"] = approximate
    latitude, longitude = _number(present.get("latitude")), _number(present.get("longitude"))
    if latitude is not None and longitude is not None and -90 <= latitude <= 90 and -180 <= longitude <= 180:
        data["latitude"], data["longitude"] = latitude, longitude
    elif "latitude" in present or "longitude" in present:
        notes.append("latitude and longitude ignored: both are needed, as numbers on the globe")
    regions = present.get("regions")
    if isinstance(regions, list):
        texts = [t for t in (_text(r) for r in regions) if t]
        most = _max_length("regions")
        if len(texts) > most:
            notes.append(f"only the first {most} regions kept")
        data["regions"] = [t[: _max_length("region")] for t in texts[:most]]
    elif regions is not None:
        notes.append("regions ignored: not an array")


def _read_links(present: dict[str, Any], data: dict[str, Any], notes: list[str]) -> None:
    def keep(name: str, ok: Callable[[str], bool]) -> None:
        text = _text(present.get(name))
        if text is None:
            return
        if ok(text):
            data[name] = text
        else:
            notes.append(f"{name} ignored: not valid")

    for name in URL_FIELDS:
        keep(name, lambda t: _valid(_URL, t))
    for name in EMAIL_FIELDS:
        keep(name, lambda t: _valid(_EMAIL, t))
    phone = data.pop("conference_phone", None)
    if phone:
        dialled = _PHONE_FILLER.sub("", phone)
        if _valid(_PHONE, dialled):
            data["conference_phone"] = dialled
        else:
            notes.append("conference_phone ignored: not a number to dial")
    emails = present.get("feedback_emails")
    if emails is not None:
        listed = emails if isinstance(emails, list) else [emails]
        texts = [t for t in (_text(e) for e in listed) if t]
        valid = [t for t in texts if _valid(_EMAIL, t)]
        if len(valid) < len(texts):
            notes.append("feedback_emails: invalid addresses ignored")
        data["feedback_emails"] = valid[: _max_length("feedback_emails")]


# What an import reports

Outcome = Literal["imported", "updated", "unchanged", "skipped"]


class ReportLine(BaseModel):
    index: int = Field(description="the item's position in the feed, from 0")
    slug: str | None = Field(description="the item's slug in the feed, when it has one")
    outcome: Outcome
    meeting_id: str | None = None
    listed_as: str | None = Field(default=None, description="the meeting's slug in the network")
    reason: str | None = Field(default=None, description="why the item was skipped")
    notes: list[str] = Field(default_factory=list, description="what was changed or left out")


class Report(BaseModel):
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    items: list[ReportLine] = Field(default_factory=list)

    def add(self, line: ReportLine) -> None:
        self.items.append(line)
        setattr(self, line.outcome, getattr(self, line.outcome) + 1)

    def merge(self, other: "Report", offset: int) -> None:
        """Another batch's report, its positions moved by where the batch starts in the feed."""
        for line in other.items:
            self.add(line.model_copy(update={"index": line.index + offset}))

    def summary(self) -> str:
        return (
            f"{len(self.items)} items: {self.imported} imported, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped"
        )
