"""Milestone dates on the member's own calendar, and the instant each is announced."""

import datetime as dt
import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from contracts.mentoring import MilestoneReachedData
from services.mentoring.milestones import model
from services.mentoring.milestones.model import Milestone

D = dt.date


def codes_and_dates(recovery: dt.date, count: int) -> list[tuple[str, dt.date]]:
    return [(m.code, m.reached_on) for m in list(model.milestones(recovery))[:count]]


def test_the_milestones_come_in_order_24h_30_60_90_days_6_9_months_a_year_18_months_then_yearly() -> None:
    assert codes_and_dates(D(2024, 3, 10), 11) == [
        ("24h", D(2024, 3, 11)),
        ("30d", D(2024, 4, 9)),
        ("60d", D(2024, 5, 9)),
        ("90d", D(2024, 6, 8)),
        ("6m", D(2024, 9, 10)),
        ("9m", D(2024, 12, 10)),
        ("1y", D(2025, 3, 10)),
        ("18m", D(2025, 9, 10)),
        ("2y", D(2026, 3, 10)),
        ("3y", D(2027, 3, 10)),
        ("4y", D(2028, 3, 10)),
    ]


def test_every_code_matches_the_contracts_pattern_and_every_milestone_comes_after_the_one_before() -> None:
    for recovery in (D(2024, 1, 31), D(2024, 2, 29), D(2023, 8, 31), D(1900, 1, 1)):
        found = list(model.milestones(recovery))
        assert len(found) == 8 + model.MAX_YEARS - 1
        assert all(a.reached_on < b.reached_on for a, b in itertools.pairwise(found))
        for m in found[:12]:
            MilestoneReachedData.model_validate(
                {"member_id": "m", "milestone": m.code, "reached_on": m.reached_on, "audience": "nobody"}
            )


def test_a_month_milestone_from_the_31st_falls_on_the_last_day_of_a_shorter_month() -> None:
    found = dict(codes_and_dates(D(2023, 8, 31), 8))
    assert found["6m"] == D(2024, 2, 29)  # leap year
    assert found["9m"] == D(2024, 5, 31)  # counted from the recovery date, not from the 6 months
    assert found["18m"] == D(2025, 2, 28)


def test_from_a_leap_day_a_year_is_the_28th_of_february_and_four_years_the_29th_again() -> None:
    found = dict(codes_and_dates(D(2024, 2, 29), 12))
    assert found["24h"] == D(2024, 3, 1)
    assert found["1y"] == D(2025, 2, 28)
    assert found["2y"] == D(2026, 2, 28)
    assert found["4y"] == D(2028, 2, 29)


def test_twenty_four_hours_is_the_day_after_the_recovery_date_even_across_a_year_end() -> None:
    assert model.milestone(D(2024, 12, 31), 0) == Milestone(0, "24h", D(2025, 1, 1))


def test_milestones_between_takes_those_after_the_first_date_up_to_and_including_the_last() -> None:
    recovery = D(2024, 1, 1)
    found = model.milestones_between(recovery, D(2024, 1, 31), D(2024, 7, 1))
    assert [m.code for m in found] == ["60d", "90d", "6m"]
    assert model.milestones_between(recovery, D(2024, 1, 2), D(2024, 1, 30)) == []


def test_the_next_milestone_is_the_first_reached_after_a_date() -> None:
    recovery = D(2020, 6, 15)
    assert model.next_milestone(recovery, D(2020, 6, 15)) == Milestone(0, "24h", D(2020, 6, 16))
    assert model.next_milestone(recovery, D(2020, 6, 16)) == Milestone(1, "30d", D(2020, 7, 15))
    assert model.next_milestone(recovery, D(2024, 12, 1)) == Milestone(11, "5y", D(2025, 6, 15))


def test_a_reset_today_counts_no_milestone_passed_and_an_old_date_counts_those_on_or_before_today() -> None:
    assert model.passed_count(D(2025, 5, 1), today=D(2025, 5, 1)) == 0
    assert model.passed_count(D(2025, 5, 1), today=D(2025, 5, 2)) == 1  # 24h is today: passed
    assert model.passed_count(D(2024, 5, 1), today=D(2025, 5, 1)) == 7  # up to and including 1y
    recovery = D(2024, 5, 1)
    index = model.passed_count(recovery, D(2025, 5, 1))
    assert model.milestone(recovery, index) == model.next_milestone(recovery, D(2025, 5, 1))


# Local midnight


def test_a_milestone_in_auckland_is_announced_at_its_midnight_the_day_before_in_utc() -> None:
    auckland = ZoneInfo("Pacific/Auckland")
    assert model.start_of_day(D(2025, 1, 15), auckland) == datetime(2025, 1, 14, 11, 0, tzinfo=UTC)  # NZDT
    assert model.start_of_day(D(2025, 7, 15), auckland) == datetime(2025, 7, 14, 12, 0, tzinfo=UTC)  # NZST


def test_in_kolkata_midnight_is_half_past_six_the_evening_before_in_utc() -> None:
    assert model.start_of_day(D(2025, 3, 10), ZoneInfo("Asia/Kolkata")) == datetime(
        2025, 3, 9, 18, 30, tzinfo=UTC
    )


def test_in_new_york_the_day_after_the_clocks_go_forward_starts_an_hour_earlier_in_utc() -> None:
    new_york = ZoneInfo("America/New_York")
    # Clocks went forward at 02:00 on 9 March 2025: the 9th began in EST, the 10th in EDT.
    assert model.start_of_day(D(2025, 3, 9), new_york) == datetime(2025, 3, 9, 5, 0, tzinfo=UTC)
    assert model.start_of_day(D(2025, 3, 10), new_york) == datetime(2025, 3, 10, 4, 0, tzinfo=UTC)
    # And back at 02:00 on 2 November: the 3rd begins in EST again.
    assert model.start_of_day(D(2025, 11, 3), new_york) == datetime(2025, 11, 3, 5, 0, tzinfo=UTC)


def test_a_30_day_milestone_the_day_after_a_dst_change_is_announced_at_that_days_own_midnight() -> None:
    new_york = ZoneInfo("America/New_York")
    due = model.due(D(2025, 2, 8), new_york, 1)  # 30 days after 8 February is 10 March
    assert due is not None
    assert (due.milestone.code, due.milestone.reached_on) == ("30d", D(2025, 3, 10))
    assert due.at == datetime(2025, 3, 10, 4, 0, tzinfo=UTC)
    assert due.at.astimezone(new_york).time() == dt.time(0, 0)


def test_where_a_dst_change_skips_midnight_the_day_starts_when_the_clocks_go_forward() -> None:
    santiago = ZoneInfo("America/Santiago")
    # On 11 September 2022 Chile went from 00:00 -04 straight to 01:00 -03.
    start = model.start_of_day(D(2022, 9, 11), santiago)
    assert start == datetime(2022, 9, 11, 4, 0, tzinfo=UTC)
    assert start.astimezone(santiago).date() == D(2022, 9, 11)
    assert (start - dt.timedelta(seconds=1)).astimezone(santiago).date() == D(2022, 9, 10)


def test_where_midnight_happens_twice_the_day_starts_at_the_first() -> None:
    santiago = ZoneInfo("America/Santiago")
    # On 2 April 2022 at 24:00 -03 Chile went back to 23:00 -04: midnight of the 3rd came once, at 03:00 UTC,
    # and the 2nd's last hour was lived twice.
    start = model.start_of_day(D(2022, 4, 3), santiago)
    assert (start - dt.timedelta(seconds=1)).astimezone(santiago).date() == D(2022, 4, 2)
    assert start.astimezone(santiago).date() == D(2022, 4, 3)


@pytest.mark.parametrize(
    "zone", ["Pacific/Auckland", "America/New_York", "Asia/Kolkata", "America/Havana", "UTC"]
)
def test_the_start_of_every_day_of_a_year_is_the_first_instant_of_that_date_there(zone: str) -> None:
    tz = ZoneInfo(zone)
    day = D(2023, 1, 1)
    while day.year == 2023:
        start = model.start_of_day(day, tz)
        assert start.astimezone(tz).date() == day
        assert (start - dt.timedelta(seconds=1)).astimezone(tz).date() == day - dt.timedelta(days=1)
        day += dt.timedelta(days=1)


def test_the_local_date_decides_so_one_instant_is_a_milestone_in_auckland_and_not_yet_in_new_york() -> None:
    instant = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert model.local_today(instant, ZoneInfo("Pacific/Auckland")) == D(2025, 1, 2)
    assert model.local_today(instant, ZoneInfo("America/New_York")) == D(2025, 1, 1)


# Who hears of it


def test_nobody_means_no_recipients_even_with_a_mentor() -> None:
    assert model.recipients("nobody", "m1", "mentor-1", ["m1", "m2"]) == []


def test_the_mentor_alone_hears_when_the_member_chose_their_mentor() -> None:
    assert model.recipients("mentor", "m1", "mentor-1", ["m1", "m2"]) == ["mentor-1"]


def test_the_group_is_the_mentor_and_their_other_mentees_without_the_member() -> None:
    assert model.recipients("group", "m1", "mentor-1", ["m3", "m1", "m2"]) == ["mentor-1", "m2", "m3"]


def test_without_an_active_match_nobody_hears() -> None:
    assert model.recipients("group", "m1", None, []) == []
    assert model.recipients("mentor", "m1", None, []) == []


# Events and timers


def test_the_event_of_a_milestone_has_the_same_id_each_time_and_another_after_a_reset() -> None:
    reached = Milestone(1, "30d", D(2025, 3, 10))
    first = model.reached_event("org-a", "m1", D(2025, 2, 8), reached, "mentor", ["mentor-1"])
    again = model.reached_event("org-a", "m1", D(2025, 2, 8), reached, "mentor", ["mentor-1"])
    reset = model.reached_event("org-a", "m1", D(2025, 2, 9), reached, "mentor", ["mentor-1"])
    assert first.id == again.id != reset.id
    assert first.data.milestone == "30d" and first.data.reached_on == D(2025, 3, 10)
    assert "m1" not in first.subject  # subjects are logged: an opaque ref


def test_a_timer_id_is_opaque_and_changes_with_the_date_setting_and_the_instant() -> None:
    at = datetime(2025, 3, 10, 4, tzinfo=UTC)
    entry = model.timer_id("org-a", "m1", "gen-1", 1, at)
    assert "m1" not in entry and "2025" not in entry
    assert entry == model.timer_id("org-a", "m1", "gen-1", 1, at)
    assert entry != model.timer_id("org-a", "m1", "gen-2", 1, at)
    assert entry != model.timer_id("org-a", "m1", "gen-1", 1, at + dt.timedelta(hours=1))
    assert entry.split("@")[0] == model.member_ref("org-a", "m1")
