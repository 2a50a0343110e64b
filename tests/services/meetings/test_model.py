import datetime as dt

import pytest
from pydantic import ValidationError

from contracts.meetings import MeetingCancelled, MeetingChanged, MeetingScheduled, OccurrenceCancelled
from services.meetings import model
from services.meetings.model import Listing, Meeting

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def listing(**fields: object) -> Listing:
    base: dict[str, object] = {"name": "Hope", "day": 2, "time": "18:30", "timezone": "America/Chicago"}
    return Listing.model_validate({**base, "formatted_address": "1 Main St, Lakeshore", **fields})


def meeting(**fields: object) -> Meeting:
    return Meeting(id="m1", org="org-a", slug="hope", listing=listing(**fields), updated=NOW)


def test_the_meeting_guide_type_list_is_loaded_whole() -> None:
    assert len(model.known_types()) == 87
    assert {"O", "C", "D", "MED"} <= model.known_types()


def test_codes_outside_the_list_are_reported_not_dropped() -> None:
    assert model.unknown_types(["O", "XYZ", "D", "local-1"]) == ["XYZ", "local-1"]


def test_day_is_one_weekday_or_several() -> None:
    assert listing(day=3).weekdays == [3]
    assert listing(day=[5, 1, 5]).weekdays == [1, 5]


@pytest.mark.parametrize(
    "bad",
    [
        {"day": 7},
        {"day": None},
        {"time": "25:00"},
        {"timezone": "Mars/Olympus"},
        {"formatted_address": None},
        {"monthly": [{"nth": 6, "day": 0}], "day": None},
        {"latitude": 41.0},
        {"conference_phone": "call me"},
        {"conference_url": "ftp://example.org/x"},
    ],
)
def test_an_incomplete_or_invalid_listing_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        listing(**bad)


def test_seconds_are_dropped_because_the_feed_has_minutes_only() -> None:
    assert listing(time="18:30:59").time == dt.time(18, 30)


@pytest.mark.parametrize(
    ("fields", "option"),
    [
        ({}, "in_person"),
        ({"conference_url": "https://zoom.us/j/1"}, "hybrid"),
        ({"formatted_address": None, "conference_phone": "+15550100"}, "online"),
        ({"types": ["TC"], "conference_url": "https://zoom.us/j/1"}, "online"),
        ({"types": ["TC"]}, "inactive"),
        ({"approximate": True, "conference_url": "https://zoom.us/j/1"}, "online"),
    ],
)
def test_the_attendance_option_is_derived_as_the_meeting_guide_apps_do(
    fields: dict[str, object], option: str
) -> None:
    assert model.attendance_option(listing(**fields)) == option


def test_slugs_are_readable_and_get_a_suffix_only_when_taken() -> None:
    assert model.slug_base("Monday  Night: Hope!") == "monday-night-hope"
    assert model.slug_base("Café Serenité") == "cafe-serenite"
    assert model.slug_base("!!!") == "meeting"
    assert model.slug_candidates("hope")[:3] == ["hope", "hope-2", "hope-3"]
    assert all(len(s) <= model.SLUG_LENGTH for s in model.slug_candidates(model.slug_base("x" * 300))[:50])


def test_scheduling_announces_the_meeting() -> None:
    (event,) = model.scheduled(meeting(conference_url="https://zoom.us/j/1"))
    assert isinstance(event, MeetingScheduled)
    assert (event.subject, event.data.slug, event.data.attendance_option) == ("m1", "hope", "hybrid")


def test_an_update_says_which_fields_changed_and_nothing_when_none_did() -> None:
    m = meeting()
    later = NOW + dt.timedelta(hours=1)
    same, none = model.update(m, listing(), later, ["x"])
    assert (same, none) == (m, [])
    new, (event,) = model.update(m, listing(time="19:00", notes="New room"), later, ["member-1"])
    assert isinstance(event, MeetingChanged)
    assert (event.data.changed, event.data.saved_by, new.updated) == (["time", "notes"], ["member-1"], later)


def test_cancelling_twice_announces_once() -> None:
    cancelled, (event,) = model.cancel(meeting(), NOW, ["member-1"])
    assert isinstance(event, MeetingCancelled) and cancelled.cancelled
    assert model.cancel(cancelled, NOW, []) == (cancelled, [])


def test_an_occurrence_is_cancelled_once_with_its_start_in_utc() -> None:
    start = dt.datetime(2026, 12, 1, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    m, (event,) = model.cancel_occurrence(meeting(), dt.date(2026, 12, 1), start, NOW, [])
    assert isinstance(event, OccurrenceCancelled)
    assert event.data.starts_at == dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.UTC)
    assert model.cancel_occurrence(m, dt.date(2026, 12, 1), start, NOW, []) == (m, [])
