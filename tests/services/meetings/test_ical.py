import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events  # type: ignore[import-untyped]

from services.meetings.ical.model import calendar, history_start
from services.meetings.model import Listing, Meeting, Moved
from services.meetings.recurrence import occurrences

CHICAGO = ZoneInfo("America/Chicago")
PUBLIC_URL = "https://meetings.example.org"
SINCE = dt.date(2026, 12, 1)


def meeting(
    cancelled: tuple[dt.date, ...] = (),
    moved: tuple[Moved, ...] = (),
    status: str = "active",
    meeting_id: str = "m1",
    **fields: object,
) -> Meeting:
    base: dict[str, object] = {
        "name": "Hope",
        "time": "19:00",
        "timezone": "America/Chicago",
        "address": "1 Main St",
    }
    listing = Listing.model_validate({**base, **fields})
    updated = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return Meeting(meeting_id, "org-a", "hope", listing, updated, status, cancelled, moved)  # type: ignore[arg-type]


def parsed(*meetings: Meeting, since: dt.date = SINCE) -> icalendar.Calendar:
    text = calendar(meetings, name="Hope", url=f"{PUBLIC_URL}/c.ics", public_url=PUBLIC_URL, since=since)
    return icalendar.Calendar.from_ical(text)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHICAGO)


def expanded(cal: icalendar.Calendar, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """What a phone shows: each occurrence's start, on the timeline (UTC), in order."""
    found: list[dt.datetime] = [e.start for e in recurring_ical_events.of(cal).between(start, end)]
    return sorted(s.astimezone(dt.UTC) for s in found if start <= s < end)


def held(m: Meeting, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """What recurrence.py says happens."""
    return [o.starts_at.astimezone(dt.UTC) for o in occurrences(m, start, end) if not o.cancelled]


def events(cal: icalendar.Calendar) -> list[icalendar.Event]:
    return cal.events


def prop(component: icalendar.Component, name: str) -> Any:
    """A property as parsed (icalendar types every property as a union of all its value types)."""
    return component[name]


def test_a_weekly_meeting_keeps_its_wall_clock_time_across_the_spring_change() -> None:
    # 2027-03-14, the second Sunday of March: Chicago moves from UTC-6 to UTC-5.
    cal = parsed(meeting(day=0))
    local = [s.astimezone(CHICAGO) for s in expanded(cal, at(2027, 3, 1), at(2027, 3, 22))]
    assert [s.isoformat() for s in local] == [
        "2027-03-07T19:00:00-06:00",
        "2027-03-14T19:00:00-05:00",
        "2027-03-21T19:00:00-05:00",
    ]
    # The same wall-clock time is an hour earlier in UTC after the change.
    assert [s.hour for s in expanded(cal, at(2027, 3, 1), at(2027, 3, 22))] == [1, 0, 0]


def test_a_meeting_in_the_small_hours_is_held_at_the_first_of_the_autumn_change_s_two_times() -> None:
    m = meeting(day=0, time="01:30")
    window = (at(2026, 10, 31), at(2026, 11, 2))
    found = expanded(parsed(m, since=dt.date(2026, 10, 1)), *window)
    assert found == held(m, *window)
    assert [s.astimezone(CHICAGO).isoformat() for s in found] == ["2026-11-01T01:30:00-05:00"]


def test_the_event_is_written_in_the_meeting_s_own_time_zone_with_its_vtimezone() -> None:
    cal = parsed(meeting(day=0))
    (zone,) = cal.timezones
    assert zone.tz_name == "America/Chicago"
    (event,) = events(cal)
    assert prop(event, "DTSTART").params["TZID"] == "America/Chicago"
    assert event.start == at(2026, 12, 6, 19)  # the first Sunday from December 1st
    assert event.end == at(2026, 12, 6, 20)
    # The zone's definition covers both sides of the spring change.
    text = zone.to_ical().decode()
    assert "TZOFFSETTO:-0500" in text and "TZOFFSETTO:-0600" in text


def test_meetings_in_two_zones_bring_both_vtimezones() -> None:
    cal = parsed(meeting(day=0), meeting(day=1, timezone="Europe/Madrid", meeting_id="m2"))
    assert sorted(z.tz_name for z in cal.timezones) == ["America/Chicago", "Europe/Madrid"]


def test_several_weekdays_are_one_weekly_rule() -> None:
    m = meeting(day=[1, 3, 5])
    cal = parsed(m)
    (event,) = events(cal)
    (rule,) = event.rrules
    assert (rule["FREQ"], rule["BYDAY"]) == (["WEEKLY"], ["MO", "WE", "FR"])
    window = (at(2026, 11, 30), at(2026, 12, 7))
    assert [s.astimezone(CHICAGO).date().isoformat() for s in expanded(cal, *window)] == [
        "2026-12-02",
        "2026-12-04",
    ]  # December 1st is where the calendar starts: the Monday before it is not in it


def test_the_first_sunday_and_the_last_friday_expand_as_recurrence_does_for_a_year() -> None:
    m = meeting(monthly=[{"nth": 1, "day": 0}, {"nth": -1, "day": 5}])
    cal = parsed(m)
    (event,) = events(cal)
    (rule,) = event.rrules
    assert (rule["FREQ"], rule["BYDAY"]) == (["MONTHLY"], ["1SU", "-1FR"])
    window = (at(2026, 12, 1), at(2027, 12, 1))
    found = expanded(cal, *window)
    assert len(found) == 24
    assert found == held(m, *window)


RULES: list[dict[str, Any]] = [
    {"day": 2},
    {"day": [0, 6]},
    {"monthly": [{"nth": 5, "day": 4}]},  # only in months with five Thursdays
    {"monthly": [{"nth": 4, "day": 5}, {"nth": -1, "day": 5}]},  # the same Friday in some months
    {"day": [1], "monthly": [{"nth": 1, "day": 1}]},  # every first Monday is a Monday anyway
    {"day": [1], "monthly": [{"nth": 2, "day": 3}]},
    {"dates": ["2027-01-09", "2027-02-14", "2026-06-01"]},
    {"day": 3, "dates": ["2027-01-06", "2027-01-09"]},  # the first is a Wednesday already
    {"day": 3, "monthly": [{"nth": -1, "day": 6}], "dates": ["2027-04-01", "2027-04-24"]},
    {"day": 2, "time": "23:30", "end_time": "00:30"},
    {"day": 0, "time": "02:30"},  # the spring change skips 02:30 once a year
]


@pytest.mark.parametrize("rules", RULES)
def test_every_kind_of_rule_expands_to_the_occurrences_recurrence_gives_for_a_year(
    rules: dict[str, Any],
) -> None:
    m = meeting(
        cancelled=(dt.date(2027, 1, 26), dt.date(2027, 3, 14), dt.date(2027, 4, 24)),
        moved=(Moved(dt.date(2027, 2, 14), dt.datetime(2027, 2, 15, 18, 0)),),
        **rules,
    )
    window = (at(2026, 12, 1), at(2027, 12, 1))
    cal = parsed(m)
    assert expanded(cal, *window) == held(m, *window)
    uids = [e.uid for e in events(cal) if "RECURRENCE-ID" not in e]
    assert len(uids) == len(set(uids))  # one event per kind of rule, each its own


def test_each_kind_of_rule_is_an_event_of_its_own_and_the_first_has_the_meeting_s_uid() -> None:
    m = meeting(day=3, monthly=[{"nth": -1, "day": 6}], dates=["2027-04-01"])
    found = {e.uid: e for e in events(parsed(m))}
    assert sorted(found) == [
        "m1-dates@recovery.network",
        "m1-monthly@recovery.network",
        "m1@recovery.network",
    ]
    assert found["m1-dates@recovery.network"].rrules == []
    assert found["m1-dates@recovery.network"].start == at(2027, 4, 1, 19)


def test_a_cancelled_occurrence_is_an_exdate_and_is_missing_from_the_expansion() -> None:
    m = meeting(day=0, cancelled=(dt.date(2027, 3, 14),))
    cal = parsed(m)
    (event,) = events(cal)
    assert event.exdates == [at(2027, 3, 14, 19)]
    local = [s.astimezone(CHICAGO).date() for s in expanded(cal, at(2027, 3, 1), at(2027, 3, 29))]
    assert local == [dt.date(2027, 3, 7), dt.date(2027, 3, 21), dt.date(2027, 3, 28)]


def test_dtstart_is_the_first_occurrence_that_is_held() -> None:
    m = meeting(day=0, cancelled=(dt.date(2026, 12, 6),))
    (event,) = events(parsed(m))
    assert event.start == at(2026, 12, 13, 19)
    assert event.exdates == []


def test_a_moved_occurrence_is_held_at_its_new_time() -> None:
    m = meeting(day=0, moved=(Moved(dt.date(2027, 3, 14), dt.datetime(2027, 3, 13, 10, 0)),))
    cal = parsed(m)
    series, override = events(cal)
    assert override.uid == series.uid
    assert prop(override, "RECURRENCE-ID").dt == at(2027, 3, 14, 19)
    assert (override.start, override.end) == (at(2027, 3, 13, 10), at(2027, 3, 13, 11))
    local = [s.astimezone(CHICAGO) for s in expanded(cal, at(2027, 3, 1), at(2027, 3, 22))]
    assert [s.isoformat() for s in local] == [
        "2027-03-07T19:00:00-06:00",
        "2027-03-13T10:00:00-06:00",
        "2027-03-21T19:00:00-05:00",
    ]


def test_a_moved_occurrence_that_is_also_cancelled_is_not_held() -> None:
    day = dt.date(2027, 3, 14)
    m = meeting(day=0, cancelled=(day,), moved=(Moved(day, dt.datetime(2027, 3, 13, 10, 0)),))
    cal = parsed(m)
    assert len(events(cal)) == 1
    assert len(expanded(cal, at(2027, 3, 8), at(2027, 3, 20))) == 0


def test_a_cancelled_meeting_is_left_out() -> None:
    cal = parsed(meeting(day=0, status="cancelled"), meeting(day=1, meeting_id="m2"))
    assert [e.uid for e in events(cal)] == ["m2@recovery.network"]


def test_one_off_dates_before_the_calendar_starts_are_left_out() -> None:
    assert events(parsed(meeting(dates=["2026-06-01"]))) == []
    assert cal_text(meeting(dates=["2026-06-01"])).count("BEGIN:VTIMEZONE") == 0


def cal_text(m: Meeting) -> str:
    return calendar([m], name="Hope", url="u", public_url=PUBLIC_URL, since=SINCE).decode()


def test_the_event_says_where_what_and_links_to_the_meeting_s_page() -> None:
    m = meeting(
        day=0,
        location="St. Mark's",
        address=None,
        formatted_address="1 Main St, Chicago, IL 60601",
        latitude=41.88,
        longitude=-87.63,
        conference_url="https://zoom.us/j/123",
        conference_url_notes="Password: hope",
        notes="Bring a friend",
        types=["O", "D", "LOCAL-1"],
    )
    (event,) = events(parsed(m))
    assert event.summary == "Hope"
    assert event.location == "St. Mark's, 1 Main St, Chicago, IL 60601"
    assert event.url == f"{PUBLIC_URL}/find/hope"
    assert (prop(event, "GEO").latitude, prop(event, "GEO").longitude) == (41.88, -87.63)
    text = event.description or ""
    for part in ("Bring a friend", "Join online: https://zoom.us/j/123", "Password: hope", "/find/hope"):
        assert part in text
    assert event.categories == ["Open", "Discussion", "LOCAL-1"]


def test_an_online_meeting_s_location_is_its_link() -> None:
    m = meeting(day=0, address=None, conference_url="https://zoom.us/j/123")
    (event,) = events(parsed(m))
    assert event.location == "https://zoom.us/j/123"


def test_a_subscribed_phone_is_told_the_calendar_s_name_and_to_refresh() -> None:
    cal = parsed(meeting(day=0))
    assert (cal.calendar_name, cal["X-WR-CALNAME"]) == ("Hope", "Hope")
    assert cal.refresh_interval == dt.timedelta(hours=6)
    assert cal["X-PUBLISHED-TTL"] == "PT6H"
    assert cal.source == f"{PUBLIC_URL}/c.ics"


def test_a_calendar_starts_on_the_first_day_of_last_month() -> None:
    assert history_start(dt.date(2027, 3, 14)) == dt.date(2027, 2, 1)
    assert history_start(dt.date(2027, 1, 1)) == dt.date(2026, 12, 1)


def test_a_meeting_changed_within_the_same_second_is_written_again() -> None:
    # Events are kept once written; `updated` is kept to the second, so it cannot be what tells.
    before = meeting(day=0, meeting_id="m-cache")
    after = meeting(day=0, meeting_id="m-cache", cancelled=(dt.date(2027, 3, 14),))
    assert before.updated == after.updated
    assert events(parsed(before))[0].exdates == []
    assert events(parsed(after))[0].exdates == [at(2027, 3, 14, 19)]
    assert events(parsed(before))[0].exdates == []
