"""Preference, quiet-hours, digest and fallback decisions, with the clock set by each test."""

from datetime import UTC, datetime, time

import pytest

from services.notifications.model import (
    Digest,
    Person,
    QuietHours,
    channels_for,
    fallback,
    in_quiet_hours,
    next_digest_at,
    plan,
    quiet_until,
    retry_delay,
    team_regions,
)
from shared.auth.principal import Principal, Role

CHICAGO = "America/Chicago"
NIGHT = QuietHours(time(22, 0), time(7, 0))


def pat(**fields: object) -> Person:
    defaults: dict[str, object] = {"email": "pat@example.org", "phone": "+13125550100", "timezone": CHICAGO}
    return Person(id="pat", org="org-a", **{**defaults, **fields})  # type: ignore[arg-type]


def test_critical_messages_go_to_every_channel_the_person_has_whatever_they_chose() -> None:
    person = pat(channels={"crisis": ("in_app",)}, quiet_hours=NIGHT)
    assert channels_for(person, "crisis", "critical") == ("in_app", "email", "sms")
    midnight = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # 00:00 in Chicago: quiet hours
    assert plan(person, "crisis", "critical", midnight).send_now == ("email", "sms")


def test_a_channel_without_an_address_is_skipped_and_the_inbox_is_always_there() -> None:
    assert channels_for(pat(email=None, phone=None), "crisis", "critical") == ("in_app",)
    assert channels_for(pat(channels={"mentoring": ()}), "mentoring", "normal") == ("in_app",)
    assert (
        plan(pat(email=None, phone=None), "mentoring", "normal", datetime(2026, 7, 1, tzinfo=UTC)).send_now
        == ()
    )


def test_other_messages_follow_the_channels_chosen_for_their_category() -> None:
    person = pat(channels={"mentoring": ("sms",)})
    assert channels_for(person, "mentoring", "normal") == ("in_app", "sms")
    assert channels_for(person, "meetings", "normal") == ("in_app", "email")  # the default


@pytest.mark.parametrize(
    ("utc", "quiet"),
    [
        (datetime(2026, 7, 1, 2, 59, tzinfo=UTC), False),  # 21:59 CDT
        (datetime(2026, 7, 1, 3, 0, tzinfo=UTC), True),  # 22:00 CDT
        (datetime(2026, 7, 1, 11, 59, tzinfo=UTC), True),  # 06:59 CDT
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), False),  # 07:00 CDT
        (datetime(2026, 1, 15, 3, 30, tzinfo=UTC), False),  # 21:30 CST: the same instant in July is quiet
    ],
)
def test_quiet_hours_are_read_on_the_persons_own_clock(utc: datetime, quiet: bool) -> None:
    assert in_quiet_hours(pat(quiet_hours=NIGHT), utc) is quiet


def test_a_normal_message_in_quiet_hours_waits_for_their_end_on_the_night_the_clocks_go_forward() -> None:
    # 8 March 2026, 01:30 CST: at 02:00 the clocks jump to 03:00 CDT; 07:00 CDT is 12:00 UTC, not 13:00.
    at = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    decided = plan(pat(quiet_hours=NIGHT), "mentoring", "normal", at)
    assert decided.send_now == ()
    assert decided.deferred == ("email",)
    assert decided.defer_until == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_quiet_hours_ending_inside_the_skipped_hour_end_when_the_clock_shows_a_later_time() -> None:
    person = pat(quiet_hours=QuietHours(time(1, 0), time(2, 30)))  # 02:30 does not exist on 8 March
    at = datetime(2026, 3, 8, 7, 45, tzinfo=UTC)  # 01:45 CST
    assert quiet_until(person, at) == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)  # 03:30 CDT, an hour on


def test_quiet_hours_end_at_the_first_seven_oclock_on_the_night_the_clocks_go_back() -> None:
    at = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 CDT, before the clocks fall back at 02:00
    assert quiet_until(pat(quiet_hours=NIGHT), at) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # 07:00 CST


def test_outside_quiet_hours_a_message_goes_now() -> None:
    noon = datetime(2026, 7, 1, 17, 0, tzinfo=UTC)
    assert plan(pat(quiet_hours=NIGHT), "mentoring", "normal", noon).send_now == ("email",)


def test_low_priority_messages_of_a_digested_category_wait_for_the_daily_digest_at_the_chosen_hour() -> None:
    person = pat(digest=Digest(frozenset({"meetings"}), 18))
    morning = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # 09:00 CDT
    assert plan(person, "meetings", "low", morning).digest_at == datetime(2026, 7, 1, 23, 0, tzinfo=UTC)
    evening = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 18:30 CDT: today's went out
    assert next_digest_at(person, evening) == datetime(2026, 7, 2, 23, 0, tzinfo=UTC)
    # Not low priority, or not a digested category: as usual.
    assert plan(person, "meetings", "normal", morning).send_now == ("email",)
    assert plan(person, "mentoring", "low", morning).send_now == ("email",)


def test_the_digest_keeps_its_local_hour_across_a_daylight_saving_change() -> None:
    person = pat(digest=Digest(frozenset({"meetings"}), 8))
    assert next_digest_at(person, datetime(2026, 10, 31, 14, 0, tzinfo=UTC)) == datetime(
        2026,
        11,
        1,
        14,
        0,
        tzinfo=UTC,  # 08:00 CST, the day after 08:00 CDT was 13:00 UTC
    )


def test_a_failed_channel_falls_back_to_the_next_one_the_person_has_and_is_not_sent_already() -> None:
    person = pat()
    assert fallback(person, "sms", ("sms",)) == "email"
    assert fallback(person, "sms", ("sms", "email")) is None  # email is on its way already
    assert fallback(pat(email=None), "sms", ("sms",)) is None  # the inbox has it
    assert fallback(person, "email", ("email",)) is None


def test_crisis_messages_retry_within_seconds_and_the_others_back_off_further() -> None:
    assert retry_delay("critical", 1).total_seconds() == 2
    assert retry_delay("critical", 2).total_seconds() == 8
    assert retry_delay("low", 1).total_seconds() == 30
    assert retry_delay("low", 9).total_seconds() == 600


def test_only_a_regional_responder_reads_their_regions_team_notifications() -> None:
    regional = Principal(
        sub="r", org="org-a", roles=frozenset({Role.REGIONAL_RESPONDER}), regions=frozenset({"x"})
    )
    admin = Principal(sub="a", org="org-a", roles=frozenset({Role.NETWORK_ADMIN}), regions=frozenset({"x"}))
    assert team_regions(regional) == {"x"}
    assert team_regions(admin) == frozenset()
