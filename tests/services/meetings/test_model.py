from datetime import time

from contracts.meetings import MeetingScheduled
from services.meetings.model import Meeting, known_types, schedule_weekly, slugify, unknown_types


def test_the_meeting_guide_type_list_is_loaded_whole() -> None:
    assert len(known_types()) == 87
    assert {"O", "C", "D", "MED"} <= known_types()


def test_codes_outside_the_list_are_reported_not_dropped() -> None:
    assert unknown_types(["O", "XYZ", "D", "local-1"]) == ["XYZ", "local-1"]


def test_scheduling_announces_the_weekly_slot() -> None:
    meeting = Meeting(
        id="m1",
        org="org-a",
        name="Hope",
        slug="hope",
        day=0,
        time=time(19),
        end_time=None,
        timezone="America/Chicago",
        types=["O"],
        conference_url="https://x.example/j",
    )
    (event,) = schedule_weekly(meeting)
    assert isinstance(event, MeetingScheduled)
    assert (event.data.day, event.data.time, event.data.online, event.subject) == (0, time(19), True, "m1")


def test_slugs_are_readable_and_unique() -> None:
    a, b = slugify("Monday  Night: Hope!"), slugify("Monday  Night: Hope!")
    assert a.startswith("monday-night-hope-") and a != b
