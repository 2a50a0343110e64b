import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from jsonschema import Draft7Validator
from pymongo.asynchronous.database import AsyncDatabase
from referencing import Registry, Resource
from rich.console import Console

from services.meetings import service as meetings
from services.meetings import store as meetings_store
from services.meetings.directory import Directory
from services.meetings.feed import cli, service
from services.meetings.feed import model as feed
from services.meetings.feed.model import Parsed, Report, ReportLine, Skipped
from services.meetings.model import Listing, Meeting
from shared.http import Problem

SCHEMAS = Path(__file__).resolve().parents[3] / "contracts" / "meeting_guide"
DATA = Path(__file__).parent / "data"
UPDATED = dt.datetime(2026, 3, 8, 9, 5, 7, tzinfo=dt.UTC)
Db = AsyncDatabase[dict[str, Any]]


def feed_validator() -> Draft7Validator:
    """The spec's feed schema, its $refs answered by the local copies (no network)."""
    resources = []
    for name in ("feed", "meeting", "meeting-type"):
        contents = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / "feed.schema.json").read_text())
    return Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


def assert_valid_feed(items: list[dict[str, Any]]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in feed_validator().iter_errors(items)]
    assert not errors, errors


EVERY_FIELD: dict[str, Any] = {
    "name": "Sunday Serenity",
    "slug": "sunday-serenity",
    "day": [0, 3],
    "time": "18:00",
    "end_time": "19:30",
    "timezone": "America/Los_Angeles",
    "formatted_address": "123 Main St, Anytown, CA 98765, USA",
    "address": "123 Main St",
    "city": "Anytown",
    "state": "CA",
    "postal_code": "98765",
    "country": "USA",
    "location": "Alano Club",
    "location_notes": "Side door",
    "latitude": 34.05,
    "longitude": -118.25,
    "approximate": "no",
    "region": "Downtown",
    "sub_region": "Old Town",
    "regions": ["Anytown", "Downtown"],
    "conference_url": "https://zoom.us/j/123456789",
    "conference_url_notes": "Password: 1234",
    "conference_phone": "+1234567890,1234",
    "conference_phone_notes": "PIN 5678",
    "types": ["O", "D", "LGBTQ"],
    "notes": "Ring buzzer.",
    "group": "The Serenity Group",
    "group_notes": "Business meeting monthly",
    "url": "https://district123.org/meetings/sunday-serenity",
    "edit_url": "https://district123.org/edit/1",
    "feedback_url": "https://district123.org/feedback",
    "feedback_emails": ["updates@district123.org"],
    "venmo": "@Serenity",
    "square": "$Serenity",
    "paypal": "paypal.me/Serenity",
    "entity": "District 123",
    "entity_email": "info@district123.org",
    "entity_location": "Example County",
    "entity_logo": "https://district123.org/logo.svg",
    "entity_phone": "+11234567890",
    "entity_website_url": "https://district123.org",
    "contact_1_name": "John",
    "contact_1_email": "john@example.org",
    "contact_1_phone": "+19876543210",
    "contact_2_name": "Jane",
    "contact_2_email": "jane@example.org",
    "contact_2_phone": "+10987654321",
    "contact_3_name": "Alice",
    "contact_3_email": "alice@example.org",
    "contact_3_phone": "+10123456789",
    "updated": "2026-03-08 09:05:07",
}


def parsed(item: dict[str, Any], zone: str = "America/Chicago") -> Parsed:
    result = feed.from_feed(item, zone)
    assert isinstance(result, Parsed), result
    return result


def skipped(item: Any, zone: str = "America/Chicago") -> Skipped:
    result = feed.from_feed(item, zone, index=4)
    assert isinstance(result, Skipped), result
    return result


def as_meeting(
    listing: Listing, slug: str = "sunday-serenity", status: Literal["active", "cancelled"] = "active"
) -> Meeting:
    return Meeting(id="m1", org="org-a", slug=slug, listing=listing, updated=UPDATED, status=status)


def minimal(**fields: Any) -> dict[str, Any]:
    base = {"name": "Hope", "slug": "hope", "day": 2, "time": "18:30", "timezone": "America/Chicago"}
    return {**base, "formatted_address": "1 Main St, Springfield, IL 62701, USA", **fields}


def listing_of(**fields: Any) -> Listing:
    """A listing made by the network itself, with what feeds cannot carry."""
    return Listing.model_validate({k: v for k, v in minimal(**fields).items() if k != "slug"})


def round_trip(item: dict[str, Any]) -> dict[str, Any]:
    result = parsed(item)
    return feed.to_feed(as_meeting(result.listing, result.slug))


# Both ways


def test_every_field_of_the_format_round_trips_and_the_export_is_valid() -> None:
    result = parsed(EVERY_FIELD)
    assert result.notes == []
    exported = feed.to_feed(as_meeting(result.listing))
    assert exported == EVERY_FIELD
    assert_valid_feed([exported])


def test_one_weekday_is_an_integer_and_several_are_an_array() -> None:
    assert round_trip(minimal(day=4))["day"] == 4
    assert round_trip(minimal(day=[5, 1]))["day"] == [1, 5]


def test_updated_is_utc_in_the_formats_own_layout() -> None:
    listing = parsed(minimal()).listing
    chicago = Meeting(
        id="m1",
        org="org-a",
        slug="hope",
        listing=listing,
        updated=dt.datetime(2026, 7, 1, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    )
    assert feed.to_feed(chicago)["updated"] == "2026-07-02 01:00:00"


def test_approximate_is_yes_or_no() -> None:
    assert round_trip(minimal(approximate="yes"))["approximate"] == "yes"
    assert round_trip(minimal(approximate="no"))["approximate"] == "no"
    assert "approximate" not in round_trip(minimal())


def test_cancelled_meetings_are_not_in_the_feed() -> None:
    listing = parsed(minimal()).listing
    items = feed.feed_items([as_meeting(listing, "a"), as_meeting(listing, "b", status="cancelled")])
    assert [i["slug"] for i in items] == ["a"]


def test_a_monthly_meeting_is_listed_on_its_weekday_with_the_rule_in_a_schedule_line() -> None:
    listing = listing_of(day=None, monthly=[{"nth": 1, "day": 0}, {"nth": -1, "day": 5}], notes="Potluck")
    item = feed.to_feed(as_meeting(listing))
    assert item["day"] == [0, 5]
    assert item["notes"] == "Potluck\nSchedule: the first Sunday, the last Friday of the month"
    assert_valid_feed([item])


def test_a_meeting_held_only_on_dates_has_no_day_and_its_coming_dates_in_the_schedule_line() -> None:
    listing = listing_of(day=None, dates=["2026-01-01", "2026-12-24"])
    item = feed.to_feed(as_meeting(listing), today=dt.date(2026, 6, 1))
    assert "day" not in item
    assert item["notes"] == "Schedule: on 2026-12-24"
    assert_valid_feed([item])


def test_a_weekly_meeting_needs_no_schedule_line() -> None:
    assert "notes" not in feed.to_feed(as_meeting(listing_of(day=[1, 4])))


SCHEDULES: dict[str, dict[str, Any]] = {
    "monthly": {"day": None, "monthly": [{"nth": 1, "day": 0}, {"nth": -1, "day": 5}], "notes": "Potluck"},
    "dates only": {"day": None, "dates": ["2026-12-24", "2027-01-07"]},
    "mixed": {
        "day": [0, 2],
        "monthly": [{"nth": 2, "day": 0}, {"nth": 3, "day": 6}],
        "dates": ["2026-12-24"],
        "types": ["O", "NL"],
        "notes": "Bring a friend",
    },
}


@pytest.mark.parametrize("fields", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_a_schedule_the_format_cannot_say_comes_back_from_our_own_feed(fields: dict[str, Any]) -> None:
    listing = listing_of(**fields)
    item = feed.to_feed(as_meeting(listing), today=dt.date(2026, 6, 1))
    assert_valid_feed([item])
    again = parsed(item)
    assert again.listing == listing
    assert again.notes == []


def test_the_mixed_schedule_line_says_every_part_in_words() -> None:
    item = feed.to_feed(as_meeting(listing_of(**SCHEDULES["mixed"])), today=dt.date(2026, 6, 1))
    assert item["day"] == [0, 2, 6]
    assert item["notes"] == (
        "Bring a friend\n"
        "Schedule: every Sunday, Tuesday; the second Sunday, the third Saturday of the month; on 2026-12-24\n"
        "Types: NL"
    )


def test_a_schedule_line_that_disagrees_with_the_day_stays_in_the_notes_and_the_day_wins() -> None:
    item = minimal(day=3, notes="Schedule: the first Sunday of the month")
    result = parsed(item)
    assert (result.listing.weekdays, result.listing.monthly) == ([3], [])
    assert result.listing.notes == "Schedule: the first Sunday of the month"


@pytest.mark.parametrize(
    "line",
    [
        "Schedule: every Monday",  # weekly only: to_feed never writes it, so it is someone's words
        "Schedule: the first Funday of the month",
        "Schedule: on 2026-13-01",
        "Schedule: on 2026-12-24; on 2026-12-31",
        "Schedule: fortnightly",
    ],
)
def test_words_that_only_look_like_a_schedule_line_are_kept_as_notes(line: str) -> None:
    result = parsed(minimal(day=1, notes=line))
    assert result.listing.notes == line and result.listing.weekdays == [1]


def test_notes_over_the_limit_only_with_the_carried_lines_come_back_whole() -> None:
    many = [dt.date(2027, 1, 1) + dt.timedelta(days=n) for n in range(300)]
    listing = listing_of(day=None, dates=many, notes="x" * 3990, types=["O", "NL"])
    item = feed.to_feed(as_meeting(listing))
    assert len(item["notes"]) > 4000
    again = parsed(item)
    assert again.listing == listing and again.notes == []


def test_a_meeting_whose_dates_are_all_past_is_not_in_the_feed() -> None:
    over = as_meeting(listing_of(day=None, dates=["2026-01-01"]), "over")
    monthly = as_meeting(
        listing_of(day=None, monthly=[{"nth": 1, "day": 0}], dates=["2026-01-01"]), "monthly"
    )
    items = feed.feed_items([over, monthly], today=dt.date(2026, 6, 1))
    assert [i["slug"] for i in items] == ["monthly"]
    assert items[0]["notes"] == "Schedule: the first Sunday of the month"


def test_an_import_keeps_the_dates_already_past_that_a_feed_no_longer_lists() -> None:
    current = listing_of(day=None, dates=["2026-01-01", "2026-12-24"])
    from_the_feed = listing_of(day=None, dates=["2026-12-24", "2027-01-07"])
    kept = feed.keep_past_dates(from_the_feed, current, dt.date(2026, 6, 1))
    assert kept.dates == [dt.date(2026, 1, 1), dt.date(2026, 12, 24), dt.date(2027, 1, 7)]
    assert feed.keep_past_dates(from_the_feed, current, dt.date(2025, 6, 1)) == from_the_feed


def test_an_address_the_schema_refuses_travels_in_location_notes_and_comes_back() -> None:
    canadian = minimal(
        formatted_address="25 Bridge St E., Napanee, ON K7R 1A1, Canada",
        address="25 Bridge St E.",
        city="Napanee",
        state="ON",
        postal_code="K7R 1A1",
        location_notes="Basement",
    )
    item = round_trip(canadian)
    for name in ("formatted_address", "address", "city", "state", "postal_code"):
        assert name not in item
    assert item["location_notes"] == (
        "Basement\nAddress: 25 Bridge St E., Napanee, ON K7R 1A1, Canada\nStreet: 25 Bridge St E.\n"
        "City: Napanee\nState: ON\nPostal code: K7R 1A1"
    )
    assert_valid_feed([item])
    again = parsed(item).listing
    assert again == parsed(canadian).listing


def test_the_parts_of_an_address_travel_together() -> None:
    item = round_trip(minimal(formatted_address=None, address="12 Main St", city="Montréal"))
    assert "address" not in item and "city" not in item
    assert item["location_notes"] == "Street: 12 Main St\nCity: Montréal"


def test_type_codes_outside_the_schemas_list_travel_in_notes_and_come_back() -> None:
    original = minimal(types=["O", "NL", "local-1"], notes="Dutch speaking")
    item = round_trip(original)
    assert item["types"] == ["O"]
    assert item["notes"] == "Dutch speaking\nTypes: NL, local-1"
    assert_valid_feed([item])
    again = parsed(item)
    assert again.listing.types == ["O", "NL", "local-1"]
    assert again.listing.notes == "Dutch speaking"


def test_a_phone_the_schema_refuses_travels_in_its_notes_and_comes_back() -> None:
    item = round_trip(minimal(conference_phone="+15551234567,,123#9"))
    assert "conference_phone" not in item
    assert item["conference_phone_notes"] == "Phone: +15551234567,,123#9"
    assert_valid_feed([item])
    assert parsed(item).listing.conference_phone == "+15551234567,,123#9"


# Real feeds, as they are


def test_fields_outside_the_format_are_ignored_and_reported() -> None:
    result = parsed(minimal(location_id=17, attendance_option="in_person", entity_url="https://x.org"))
    assert result.notes == ["fields ignored: entity_url, location_id"]


def test_nulls_and_empty_strings_are_absent() -> None:
    result = parsed(minimal(notes="", postal_code=None, end_time=None, types=None, region="  "))
    assert result.notes == []
    assert result.listing.notes is None and result.listing.region is None and result.listing.types == []


def test_an_integer_slug_is_text() -> None:
    assert parsed(minimal(slug=8)).slug == "8"


def test_a_slug_that_is_not_url_safe_is_made_safe_and_reported() -> None:
    result = parsed(minimal(slug="Sunday Serenity #14"))
    assert result.slug == "sunday-serenity-14"
    assert result.notes == ["slug 'Sunday Serenity #14' is not URL-safe: kept as 'sunday-serenity-14'"]


@pytest.mark.parametrize(
    ("day", "weekdays"), [([1, 3, 5], [1, 3, 5]), ("3", [3]), (["0", 6], [0, 6]), (2.0, [2])]
)
def test_day_may_be_an_array_or_a_number_as_text(day: Any, weekdays: list[int]) -> None:
    assert parsed(minimal(day=day)).listing.weekdays == weekdays


def test_a_missing_timezone_is_the_organizations_and_is_reported() -> None:
    result = parsed({k: v for k, v in minimal().items() if k != "timezone"}, zone="Europe/Dublin")
    assert result.listing.timezone == "Europe/Dublin"
    assert result.notes == ["no timezone: Europe/Dublin assumed"]


def test_unknown_type_codes_are_kept_and_reported() -> None:
    result = parsed(minimal(types=["O", "QSL", "local-1"]))
    assert result.listing.types == ["O", "QSL", "local-1"]
    assert result.notes == ["unknown type codes kept: QSL, local-1"]


def test_type_codes_no_listing_can_hold_are_reported() -> None:
    result = parsed(minimal(types=["O", "LGBTQIAA+"]))
    assert result.listing.types == ["O"]
    assert result.notes == ["type codes not kept (letters, digits, - and _ only): LGBTQIAA+"]


@pytest.mark.parametrize(
    ("written", "time"),
    [
        ("7:30", dt.time(7, 30)),
        ("19:30:00", dt.time(19, 30)),
        ("7:30 PM", dt.time(19, 30)),
        ("12:05am", dt.time(0, 5)),
    ],
)
def test_times_are_read_as_real_feeds_write_them(written: str, time: dt.time) -> None:
    assert parsed(minimal(time=written)).listing.time == time


@pytest.mark.parametrize(
    ("written", "approximate"), [("yes", True), ("no", False), (True, True), ("false", False)]
)
def test_approximate_is_read_from_yes_or_no(written: Any, approximate: bool) -> None:
    assert parsed(minimal(approximate=written)).listing.approximate is approximate


def test_numbers_for_text_and_coordinates_as_text_are_read() -> None:
    result = parsed(minimal(postal_code=62701, latitude="39.78", longitude="-89.65"))
    assert result.listing.postal_code == "62701"
    assert (result.listing.latitude, result.listing.longitude) == (39.78, -89.65)


def test_a_dial_in_number_written_for_people_is_made_dialable() -> None:
    assert parsed(minimal(conference_phone="+1 (555) 123-4567")).listing.conference_phone == "+15551234567"


@pytest.mark.parametrize(
    ("fields", "note"),
    [
        ({"end_time": "late"}, 'end_time "late" ignored: not a time of day'),
        ({"url": "not a url"}, "url ignored: not valid"),
        ({"entity_email": "nobody"}, "entity_email ignored: not valid"),
        (
            {"latitude": 91, "longitude": 0},
            "latitude and longitude ignored: both are needed, as numbers on the globe",
        ),
        ({"latitude": 40}, "latitude and longitude ignored: both are needed, as numbers on the globe"),
        ({"approximate": "maybe"}, 'approximate "maybe" ignored: not yes or no'),
        ({"feedback_emails": ["a@example.org", "nope"]}, "feedback_emails: invalid addresses ignored"),
        ({"regions": "North"}, "regions ignored: not an array"),
        ({"group": {"id": 3}}, "group ignored: not text"),
        ({"notes": "x" * 5000}, "notes shortened to 4000 characters"),
    ],
)
def test_an_optional_value_that_cannot_be_kept_is_left_out_and_reported(
    fields: dict[str, Any], note: str
) -> None:
    assert note in parsed(minimal(**fields)).notes


def test_control_characters_are_removed_rather_than_refuse_the_meeting() -> None:
    assert parsed(minimal(name="Hope\x00 Group")).listing.name == "Hope Group"


# What cannot be imported, and why


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (["not", "an", "object"], "not a JSON object"),
        ({"name": "Hope", "day": 1, "time": "19:00"}, "no slug: the Meeting Guide format requires one"),
        (minimal(name=""), "no name"),
        (
            minimal(day=None),
            "no day: the network lists meetings by their weekday (a meeting by appointment has none)",
        ),
        (
            minimal(day=[]),
            "no day: the network lists meetings by their weekday (a meeting by appointment has none)",
        ),
        (minimal(day=7), "day 7 is not 0 (Sunday) to 6 (Saturday)"),
        (minimal(day="Monday"), 'day "Monday" is not 0 (Sunday) to 6 (Saturday)'),
        (minimal(time="25:00"), 'time "25:00" is not a time of day (HH:MM, 24-hour)'),
        (minimal(time=None), "time null is not a time of day (HH:MM, 24-hour)"),
        (minimal(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_an_item_that_cannot_be_imported_is_skipped_with_its_reason(item: Any, reason: str) -> None:
    assert skipped(item).reason == reason


def test_a_meeting_with_neither_address_nor_online_link_is_skipped_saying_so() -> None:
    result = skipped(minimal(formatted_address=None))
    assert result.slug_or_index == "hope"
    assert "needs an address, a conference_url or conference_phone" in result.reason


def test_a_skipped_item_without_slug_is_named_by_its_position() -> None:
    assert skipped({"name": "x"}).slug_or_index == 4


# The spec's published examples


def test_the_specs_example_meeting_imports_and_exports_valid() -> None:
    example = json.loads((DATA / "spec-example.json").read_text())
    result = parsed(example, zone="America/Los_Angeles")
    assert result.slug == "sunday-serenity-14"
    assert result.notes == ["fields ignored: $schema, entity_url", "no timezone: America/Los_Angeles assumed"]
    exported = feed.to_feed(as_meeting(result.listing, result.slug))
    assert_valid_feed([exported])
    # Everything the example says in the format's own fields comes back out as it went in.
    for name, value in example.items():
        if name not in ("$schema", "entity_url", "updated", "entity_phone"):
            assert exported[name] == value, name
    assert exported["entity_phone"] == "+1-123-456-7890"


def test_the_kansas_city_sample_feed_imports_whole_and_exports_valid() -> None:
    items = json.loads((DATA / "kansas-city-data-sample.json").read_text())
    results = [feed.from_feed(item, "America/Toronto", index=i) for i, item in enumerate(items)]
    assert all(isinstance(r, Parsed) for r in results), [r for r in results if isinstance(r, Skipped)]
    meetings_ = [as_meeting(r.listing, r.slug) for r in results if isinstance(r, Parsed)]
    assert len(meetings_) == 45
    exported = feed.feed_items(meetings_)
    assert_valid_feed(exported)
    # Canadian addresses travel in location_notes, and come back to their own fields.
    back = [feed.from_feed(item, "America/Toronto") for item in exported]
    assert [b.listing for b in back if isinstance(b, Parsed)] == [m.listing for m in meetings_]


def test_the_jquery_demo_feed_is_skipped_item_by_item_for_want_of_slugs() -> None:
    items = json.loads((DATA / "jquery-demo-test.json").read_text())
    results = [feed.from_feed(item, "UTC", index=i) for i, item in enumerate(items)]
    assert results == [Skipped(i, "no slug: the Meeting Guide format requires one") for i in range(3)]


def test_the_schema_copies_are_the_specs_files_unchanged() -> None:
    # Their sizes as read from code4recovery/spec at the commits contracts/meeting_guide/README.md names.
    sizes = {"feed": 408, "meeting": 16128, "meeting-type": 2998}
    for name, size in sizes.items():
        assert len((SCHEMAS / f"{name}.schema.json").read_text()) == size


def test_the_validator_catches_what_the_schema_refuses() -> None:
    with pytest.raises(AssertionError):
        assert_valid_feed([{"name": "x", "slug": "x", "day": 9, "approximate": "maybe", "types": ["NL"]}])


# The feed as a whole, and the report


def test_a_feed_is_a_json_array_of_objects() -> None:
    assert service.parse_feed(b'\xef\xbb\xbf[{"name": "x"}]') == [{"name": "x"}]
    for bad in (b"{}", b"[1, 2]", b'"feed"', b"not json", b"\xff\xfe"):
        with pytest.raises(Problem) as problem:
            service.parse_feed(bad)
        assert problem.value.status == 422


def test_a_file_nested_deeper_than_the_parser_goes_is_not_a_feed() -> None:
    with pytest.raises(Problem) as problem:
        service.parse_feed(b"[" * 100_000 + b"]" * 100_000)
    assert (problem.value.status, problem.value.detail) == (422, "the file nests deeper than any feed does")


def test_batches_reports_merge_with_the_feeds_positions() -> None:
    first, second = Report(), Report()
    first.add(ReportLine(index=0, slug="a", outcome="imported"))
    second.add(ReportLine(index=0, slug="b", outcome="skipped", reason="no day"))
    whole = Report()
    whole.merge(first, 0)
    whole.merge(second, 100)
    assert [(line.index, line.slug) for line in whole.items] == [(0, "a"), (100, "b")]
    assert whole.summary() == "2 items: 1 imported, 0 updated, 0 unchanged, 1 skipped"


# The import use case on the real document store


class Publisher:
    """Collects what would go to JetStream."""

    def __init__(self) -> None:
        self.types: list[str] = []

    def acknowledged(self, event_id: str) -> bool:
        return False

    async def publish_raw(self, event_type: str, subject: str, payload: bytes, event_id: str) -> None:
        self.types.append(event_type)


@pytest.fixture
async def db(scratch_db: Db) -> Db:
    await meetings_store.ensure_indexes(scratch_db)
    return scratch_db


def outcomes(report: Report) -> list[tuple[str | None, str]]:
    return [(line.slug, line.outcome) for line in report.items]


async def test_importing_twice_updates_and_never_duplicates(db: Db) -> None:
    publisher: Any = Publisher()
    items = [minimal(slug="hope"), minimal(slug="hope", name="Twin"), minimal(slug="faith", day=9)]
    first = await service.import_feed(db, publisher, "org-a", items, "America/Chicago")
    assert outcomes(first) == [("hope", "imported"), ("hope", "skipped"), ("faith", "skipped")]
    assert first.items[1].reason == "slug 'hope' is already item 0 of this feed"
    again = await service.import_feed(db, publisher, "org-a", items, "America/Chicago")
    assert outcomes(again)[0] == ("hope", "unchanged")
    changed = await service.import_feed(db, publisher, "org-a", [minimal(time="19:00")], "America/Chicago")
    assert outcomes(changed) == [("hope", "updated")]
    assert changed.items[0].notes == ["changed: time"]
    assert await db.meetings.count_documents({"org": "org-a"}) == 1
    assert publisher.types == ["meetings.scheduled.v2", "meetings.changed.v1"]


async def test_a_rerun_after_a_crash_between_claim_and_meeting_creates_the_claimed_meeting(db: Db) -> None:
    publisher: Any = Publisher()
    await db.imports.insert_one({"_id": "org-a/hope", "org": "org-a", "meeting_id": "claimed-1"})
    report = await service.import_feed(db, publisher, "org-a", [minimal()], "America/Chicago")
    assert outcomes(report) == [("hope", "imported")]
    assert [d["_id"] async for d in db.meetings.find({})] == ["claimed-1"]


async def test_a_slug_another_organization_lists_gets_a_suffix_and_the_report_says_so(db: Db) -> None:
    publisher: Any = Publisher()
    await service.import_feed(db, publisher, "org-b", [minimal()], "America/Chicago")
    report = await service.import_feed(db, publisher, "org-a", [minimal()], "America/Chicago")
    assert report.items[0].listed_as == "hope-2"
    assert "slug 'hope' is taken in the network: listed as 'hope-2'" in report.items[0].notes


async def test_a_meeting_the_organization_already_lists_under_the_slug_is_updated_not_twinned(db: Db) -> None:
    publisher: Any = Publisher()
    made = await meetings.create_meeting(db, publisher, "org-a", parsed(minimal()).listing)
    report = await service.import_feed(db, publisher, "org-a", [minimal(slug=made.slug)], "America/Chicago")
    assert outcomes(report) == [(made.slug, "unchanged")]
    assert report.items[0].meeting_id == made.id
    await meetings.cancel_meeting(db, publisher, "org-a", made.id)
    report = await service.import_feed(db, publisher, "org-a", [minimal(slug=made.slug)], "America/Chicago")
    assert report.items[0].outcome == "skipped"
    assert report.items[0].reason == "the meeting is cancelled here: an import does not list it again"


def test_the_written_feed_is_one_json_array_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "BATCH", 2)
    listing = parsed(minimal()).listing
    meetings_ = [as_meeting(listing, f"m{i}", "cancelled" if i == 2 else "active") for i in range(5)]
    chunks = list(service.feed_json(meetings_, dt.date(2026, 6, 1)))
    assert len(chunks) == 4
    written = json.loads(b"".join(chunks))
    assert [i["slug"] for i in written] == ["m0", "m1", "m3", "m4"]
    assert_valid_feed(written)
    assert json.loads(b"".join(service.feed_json([], dt.date(2026, 6, 1)))) == []
    only_cancelled = [as_meeting(listing, "gone", "cancelled")]
    assert json.loads(b"".join(service.feed_json(only_cancelled, dt.date(2026, 6, 1)))) == []


def test_the_published_feed_lists_the_directorys_meetings_of_one_organization_or_all() -> None:
    directory = Directory()
    listing = parsed(minimal()).listing
    directory.put(as_meeting(listing, "a"))
    directory.put(Meeting(id="m2", org="org-b", slug="b", listing=listing, updated=UPDATED))
    network = json.loads(b"".join(service.published_feed(directory, None)))
    assert sorted(i["slug"] for i in network) == ["a", "b"]
    assert [i["slug"] for i in json.loads(b"".join(service.published_feed(directory, "org-b")))] == ["b"]
    assert json.loads(b"".join(service.published_feed(directory, "org-c"))) == []


async def test_our_own_feed_imported_back_is_unchanged_and_announces_nothing(db: Db) -> None:
    publisher: Any = Publisher()
    today = dt.datetime.now(dt.UTC).date()
    past, soon, later = (str(today + dt.timedelta(days=n)) for n in (-30, 30, 60))
    schedules = {
        **SCHEDULES,
        "dates only": {"day": None, "dates": [past, soon, later]},
        "mixed": {**SCHEDULES["mixed"], "dates": [past, soon]},
    }
    made = [
        await meetings.create_meeting(db, publisher, "org-a", listing_of(name=name, **fields))
        for name, fields in schedules.items()
    ]
    for m in made:
        await meetings.save_meeting(db, "org-a", "member-1", m.id)
    exported = feed.feed_items(made, today=today)
    assert_valid_feed(exported)
    report = await service.import_feed(db, publisher, "org-a", exported, "America/Chicago")
    assert [(line.outcome, line.notes) for line in report.items] == [("unchanged", [])] * 3
    assert [line.meeting_id for line in report.items] == [m.id for m in made]
    assert publisher.types == ["meetings.scheduled.v2"] * 3


async def test_an_import_of_the_same_new_slug_at_the_same_time_makes_one_meeting(db: Db) -> None:
    publisher: Any = Publisher()
    items = [minimal(slug="hope"), minimal(slug="faith")]
    both = await asyncio.gather(
        *(service.import_feed(db, publisher, "org-a", items, "America/Chicago") for _ in range(2))
    )
    assert sorted(line.outcome for report in both for line in report.items if line.slug == "hope") == [
        "imported",
        "unchanged",
    ]
    assert await db.meetings.count_documents({"org": "org-a"}) == 2
    assert publisher.types == ["meetings.scheduled.v2"] * 2


async def test_a_meeting_created_between_our_read_and_our_insert_is_updated_instead(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher: Any = Publisher()
    create = meetings.create_meeting

    async def other_request_first(*args: Any, **kwargs: Any) -> Meeting:
        # The other request's insert lands just before ours, with the listing as it was then.
        await create(db, publisher, "org-a", parsed(minimal(time="20:00")).listing, **kwargs)
        return await create(*args, **kwargs)

    monkeypatch.setattr(meetings, "create_meeting", other_request_first)
    report = await service.import_feed(
        db, publisher, "org-a", [minimal(slug="hope"), minimal(slug="hope", name="Twin")], "America/Chicago"
    )
    assert outcomes(report) == [("hope", "updated"), ("hope", "skipped")]
    assert report.items[0].notes == ["changed: time"]
    assert await db.meetings.count_documents({"org": "org-a"}) == 1


async def test_a_meeting_cancelled_while_it_is_imported_is_skipped_and_the_rest_imported(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher: Any = Publisher()
    await service.import_feed(db, publisher, "org-a", [minimal(slug="hope")], "America/Chicago")
    update = meetings.update_meeting

    async def cancelled_meanwhile(
        db_: Db, publisher_: Any, org: str, meeting_id: str, listing: Listing
    ) -> Meeting:
        await meetings.cancel_meeting(db_, publisher_, org, meeting_id)
        return await update(db_, publisher_, org, meeting_id, listing)

    monkeypatch.setattr(meetings, "update_meeting", cancelled_meanwhile)
    items = [minimal(slug="hope", time="20:00"), minimal(slug="faith")]
    report = await service.import_feed(db, publisher, "org-a", items, "America/Chicago")
    assert outcomes(report) == [("hope", "skipped"), ("faith", "imported")]
    assert report.items[0].reason == "the meeting is cancelled"


# The command line


def test_the_cli_prints_what_was_imported_when_a_later_batch_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    items = [
        minimal(slug="hope"),
        minimal(slug="faith"),
        minimal(slug="hope", name="Twin"),
        minimal(slug="love"),
    ]
    source = tmp_path / "feed.json"
    source.write_text(json.dumps(items))
    sent: list[list[str]] = []

    def service_(request: httpx.Request) -> httpx.Response:
        batch = json.loads(request.content)
        sent.append([item["slug"] for item in batch])
        if len(sent) == 2:
            return httpx.Response(503, json={"title": "Service Unavailable", "detail": "try again shortly"})
        report = Report()
        report.add(ReportLine(index=0, slug=batch[0]["slug"], outcome="imported"))
        return httpx.Response(200, json=report.model_dump(mode="json"))

    argv = ["import", str(source), "--token", "t", "--batch", "1", "--service", "http://meetings.test"]
    assert cli.main(argv, transport=httpx.MockTransport(service_)) == 1
    out = capsys.readouterr().out
    assert sent == [["hope"], ["faith"]]
    assert "hope" in out and "imported" in out
    assert "slug 'hope' is already item 0 of this feed" in out
    assert "2 items: 1 imported, 0 updated, 0 unchanged, 1 skipped" in out
    assert (
        "batch 2 of 3 (from item 1 of the feed) was refused: 503 Service Unavailable: try again shortly"
        in out
    )


def test_the_cli_says_which_batch_could_not_reach_the_service() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(cli.Refused) as refused:
        cli.import_feed(
            [minimal()],
            service="http://meetings.test",
            token="t",
            timezone=None,
            batch=10,
            console=Console(quiet=True),
            transport=httpx.MockTransport(unreachable),
        )
    assert (refused.value.batch, refused.value.batches, refused.value.reason) == (1, 1, "connection refused")
    assert refused.value.report.items == []
