import datetime as dt
from zoneinfo import ZoneInfo

from services.meetings.model import Listing, Meeting, Moved
from services.meetings.recurrence import next_occurrences, occurrence_on, occurrences

CHICAGO = ZoneInfo("America/Chicago")


def meeting(cancelled: tuple[dt.date, ...] = (), moved: tuple[Moved, ...] = (), **fields: object) -> Meeting:
    base: dict[str, object] = {
        "name": "Hope",
        "time": "19:00",
        "timezone": "America/Chicago",
        "address": "1 Main St",
    }
    listing = Listing.model_validate({**base, **fields})
    return Meeting(
        "m1", "org-a", "hope", listing, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "active", cancelled, moved
    )


def starts(m: Meeting, start: dt.datetime, end: dt.datetime) -> list[str]:
    return [o.starts_at.isoformat() for o in occurrences(m, start, end) if not o.cancelled]


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CHICAGO)


def test_a_weekly_meeting_keeps_its_wall_clock_time_across_the_spring_change() -> None:
    # 2027-03-14 is the second Sunday of March: Chicago moves from UTC-6 to UTC-5.
    found = starts(meeting(day=0), at(2027, 3, 1), at(2027, 3, 22))
    assert found == ["2027-03-07T19:00:00-06:00", "2027-03-14T19:00:00-05:00", "2027-03-21T19:00:00-05:00"]


def test_a_weekly_meeting_keeps_its_wall_clock_time_across_the_autumn_change() -> None:
    found = starts(meeting(day=0, time="01:30"), at(2026, 10, 31), at(2026, 11, 2))
    assert found == ["2026-11-01T01:30:00-05:00"]  # the first of the two 01:30s


def test_a_time_the_spring_change_skips_is_held_just_after_the_gap() -> None:
    assert starts(meeting(day=0, time="02:30"), at(2027, 3, 14), at(2027, 3, 15)) == [
        "2027-03-14T03:30:00-05:00"
    ]


def test_several_weekdays() -> None:
    found = starts(meeting(day=[1, 3, 5]), at(2026, 11, 30), at(2026, 12, 7))
    assert [s[:10] for s in found] == ["2026-11-30", "2026-12-02", "2026-12-04"]


def test_monthly_on_the_first_sunday_and_the_last_friday() -> None:
    m = meeting(monthly=[{"nth": 1, "day": 0}, {"nth": -1, "day": 5}])
    found = starts(m, at(2026, 12, 1), at(2027, 3, 1))
    assert [s[:10] for s in found] == [
        "2026-12-06", "2026-12-25", "2027-01-03", "2027-01-29", "2027-02-07", "2027-02-26",
    ]  # fmt: skip


def test_a_fifth_weekday_happens_only_in_months_that_have_one() -> None:
    found = starts(meeting(monthly=[{"nth": 5, "day": 2}]), at(2026, 12, 1), at(2027, 4, 1))
    assert [s[:10] for s in found] == ["2026-12-29", "2027-03-30"]


def test_one_off_dates() -> None:
    m = meeting(dates=["2026-12-24", "2026-12-31"])
    assert [s[:10] for s in starts(m, at(2026, 12, 1), at(2027, 12, 1))] == ["2026-12-24", "2026-12-31"]


def test_a_cancelled_occurrence_is_marked_and_skipped_by_the_next_ones() -> None:
    m = meeting(day=2, cancelled=(dt.date(2026, 12, 1),))
    (first, second) = occurrences(m, at(2026, 12, 1), at(2026, 12, 9))
    assert (first.date, first.cancelled, second.cancelled) == (dt.date(2026, 12, 1), True, False)
    assert [o.date for o in next_occurrences(m, at(2026, 11, 30), 1)] == [dt.date(2026, 12, 8)]


def test_a_moved_occurrence_starts_at_its_new_time_and_keeps_its_date() -> None:
    m = meeting(day=2, moved=(Moved(dt.date(2026, 12, 1), dt.datetime(2026, 12, 2, 12, 0)),))
    (o,) = occurrences(m, at(2026, 12, 1), at(2026, 12, 8))
    assert (o.date, o.starts_at, o.moved) == (dt.date(2026, 12, 1), at(2026, 12, 2, 12), True)
    assert occurrence_on(m, dt.date(2026, 12, 1)) == o
    assert occurrence_on(m, dt.date(2026, 12, 3)) is None


def test_an_end_time_past_midnight_ends_the_next_day() -> None:
    (o,) = occurrences(meeting(day=6, time="23:00", end_time="00:30"), at(2026, 12, 5), at(2026, 12, 6))
    assert o.ends_at == at(2026, 12, 6, 0, 30)
