"""The input types every route shares: what they accept and what they refuse with a validation error."""

from datetime import datetime

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import Field, TypeAdapter, ValidationError

from services.crisis import api as crisis_api
from services.crisis import console
from services.insights import api as insights_api
from services.meetings import api as meetings_api
from services.meetings import directory_api
from services.meetings.attendance import api as attendance_api
from services.meetings.feed import api as feed_api
from services.meetings.ical import api as ical_api
from services.mentoring import api as mentoring_api
from services.notifications import api as notifications_api
from shared.inputs import Instant, Strict, TimeOfDay, TimeZone, WallTime

ROUTERS = [
    crisis_api.router,
    console.router,
    insights_api.router,
    meetings_api.router,
    directory_api.router,
    attendance_api.router,
    feed_api.router,
    ical_api.router,
    mentoring_api.router,
    notifications_api.router,
]

instant: TypeAdapter[datetime] = TypeAdapter(Instant)
wall_time: TypeAdapter[datetime] = TypeAdapter(WallTime)


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "1969-12-31T23:59:59Z"]
)
def test_an_instant_at_the_ends_of_the_calendar_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="must be from 1970-01-01"):
        instant.validate_python(value)


def test_an_instant_of_these_years_keeps_its_offset() -> None:
    value = instant.validate_python("2026-03-03T12:00:00-06:00")
    assert value.isoformat() == "2026-03-03T12:00:00-06:00"


def test_an_instant_needs_its_offset_and_a_wall_time_must_not_have_one() -> None:
    with pytest.raises(ValidationError):
        instant.validate_python("2026-03-03T12:00:00")
    with pytest.raises(ValidationError):
        wall_time.validate_python("2026-03-03T12:00:00Z")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00", "9999-12-31T23:59:59"])
def test_a_wall_time_at_the_ends_of_the_calendar_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="must be from 1970-01-01"):
        wall_time.validate_python(value)


class Override(Strict):
    start: Instant


class Meeting(Strict):
    day: int = Field(ge=0, le=6)
    time: TimeOfDay
    name: str = "Serenity"
    types: list[str] = Field(default_factory=list)
    timeout_minutes: float = 5
    overrides: list[Override] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("day", True),
        ("day", "2"),
        ("time", 12345),
        ("time", True),
        ("name", "Seren\x00ity"),
        ("name", "\ud800"),
        ("types", ["O", "D\x07"]),
        ("overrides", [{"start": 1767225600}]),
        ("overrides", [{"start": "2026-01-01T00:00:00Z", "note": "\x1b[2J"}]),
    ],
)
def test_a_request_body_takes_json_types_as_they_are_and_refuses_control_characters(
    field: str, value: object
) -> None:
    with pytest.raises(ValidationError) as refused:
        Meeting.model_validate({"day": 2, "time": "18:30", field: value})
    assert refused.value.errors()[0]["loc"][0] == field


def test_a_request_body_reads_times_from_iso_text_and_keeps_line_breaks_in_text() -> None:
    meeting = Meeting.model_validate(
        {
            "day": 2,
            "time": "18:30",
            "name": "Step\tStudy\r\nSerenity",
            "timeout_minutes": 3,
            "overrides": [{"start": "2026-01-01T00:00:00Z"}],
        }
    )
    assert (meeting.time.hour, meeting.name, meeting.timeout_minutes) == (18, "Step\tStudy\r\nSerenity", 3.0)
    assert meeting.overrides[0].start.year == 2026


@pytest.mark.parametrize("router", ROUTERS, ids=lambda r: f"{r.tags[0]}-{ROUTERS.index(r)}")
def test_every_request_body_of_every_service_is_strict(router: APIRouter) -> None:
    for route in router.routes:
        assert isinstance(route, APIRoute)
        for param in route.dependant.body_params:
            model = param.field_info.annotation
            assert isinstance(model, type) and issubclass(model, Strict), (route.path, model)


def test_a_time_zone_folder_is_an_unknown_time_zone_not_an_error() -> None:
    # "America" is a folder of the time zone database: opening it raised IsADirectoryError (a 500).
    with pytest.raises(ValidationError, match="unknown time zone"):
        TypeAdapter(TimeZone).validate_python("America")


@pytest.mark.parametrize("value", ["00:00:00Z", "18:30+02:00"])
def test_a_time_of_day_with_an_offset_is_refused(value: str) -> None:
    # A directory search with time_to=00:00:00Z compared an aware time with the meetings' wall-clock times.
    with pytest.raises(ValidationError, match="without an offset"):
        TypeAdapter(TimeOfDay).validate_python(value)
