"""Attendance: check-in codes and their windows, streaks, the disengagement rule, the proof, and the
disengagement check on the real document store and NATS."""

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.ids import new_id
from contracts.meetings import MEETING_EVENTS, AttendanceRecorded
from deploy.local.stack import Stack
from services.meetings import recurrence
from services.meetings import store as meetings_store
from services.meetings.attendance import model, proof, service, store
from services.meetings.attendance.model import Attended, CheckinRules
from services.meetings.model import Listing, Meeting, Moved
from services.meetings.settings import Settings
from shared import scheduler
from shared.http import Problem
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher
from tests.helpers import eventually

CHICAGO = ZoneInfo("America/Chicago")
RULES = CheckinRules("secret", opens_before=timedelta(minutes=30), closes_after=timedelta(minutes=60))


def meeting(cancelled: tuple[dt.date, ...] = (), moved: tuple[Moved, ...] = (), **fields: Any) -> Meeting:
    base: dict[str, Any] = {
        "name": "Hope",
        "day": 2,  # Tuesdays
        "time": "19:00",
        "end_time": "20:00",
        "timezone": "America/Chicago",
        "address": "1 Main St",
    }
    listing = Listing.model_validate({**base, **fields})
    return Meeting(
        "m1", "org-a", "hope", listing, datetime(2026, 1, 1, tzinfo=UTC), "active", cancelled, moved
    )


def chicago(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CHICAGO)


TUESDAY = dt.date(2026, 12, 1)


# Codes


def test_a_code_is_six_symbols_that_cannot_be_mistaken_for_one_another() -> None:
    code = model.checkin_code("secret", "m1", TUESDAY)
    assert len(code) == 6 and set(code) <= set(model.ALPHABET)
    for look_alikes in ("0OQD", "1IL", "2Z", "5S", "8B", "6G"):
        assert len(set(look_alikes) & set(model.ALPHABET)) <= 1, look_alikes


def test_each_occurrence_has_its_own_code_and_so_does_each_meeting_and_secret() -> None:
    codes = {model.checkin_code("secret", "m1", TUESDAY + timedelta(weeks=n)) for n in range(52)}
    assert len(codes) == 52
    assert model.checkin_code("secret", "m2", TUESDAY) != model.checkin_code("secret", "m1", TUESDAY)
    assert model.checkin_code("other", "m1", TUESDAY) != model.checkin_code("secret", "m1", TUESDAY)
    assert model.checkin_code("secret", "m1", TUESDAY) == model.checkin_code("secret", "m1", TUESDAY)


def test_a_code_matches_in_any_case_with_spaces_or_dashes_and_nothing_else_does() -> None:
    code = model.checkin_code("secret", "m1", TUESDAY)
    for typed in (code, code.lower(), f" {code[:3]}-{code[3:]} ", f"{code[:3]} {code[3:].lower()}"):
        assert model.code_matches(code, typed), typed
    for wrong in (
        "",
        code[:5],
        code + "A",
        "ÄÖÜ",
        model.checkin_code("secret", "m1", TUESDAY + timedelta(7)),
    ):
        assert not model.code_matches(code, wrong), wrong


# Windows


def test_the_code_works_from_30_minutes_before_the_start_to_an_hour_after_the_end() -> None:
    m = meeting()
    assert model.open_occurrence(m, chicago(2026, 12, 1, 18, 29, 59), RULES) is None
    for at in (chicago(2026, 12, 1, 18, 30), chicago(2026, 12, 1, 19, 30), chicago(2026, 12, 1, 21, 0)):
        found = model.open_occurrence(m, at, RULES)
        assert found is not None and found.date == TUESDAY, at
    assert model.open_occurrence(m, chicago(2026, 12, 1, 21, 0, 1), RULES) is None
    assert model.open_occurrence(m, chicago(2026, 12, 3, 19, 0), RULES) is None  # a Thursday


def test_the_window_follows_the_occurrence_in_the_meetings_zone_across_a_dst_change() -> None:
    m = meeting(day=0)  # Sundays; 2027-03-14 Chicago moves to UTC-5
    (occurrence,) = recurrence.occurrences(m, chicago(2027, 3, 14), chicago(2027, 3, 15))
    found = model.window(occurrence, RULES)
    assert found is not None
    assert found.opens == datetime(2027, 3, 14, 23, 30, tzinfo=UTC)  # 18:30 CDT
    assert found.closes == datetime(2027, 3, 15, 2, 0, tzinfo=UTC)  # 21:00 CDT


def test_a_moved_occurrence_is_open_at_its_new_time_only() -> None:
    m = meeting(moved=(Moved(TUESDAY, datetime(2026, 12, 2, 12, 0)),))  # to Wednesday noon
    assert model.open_occurrence(m, chicago(2026, 12, 1, 19, 0), RULES) is None
    found = model.open_occurrence(m, chicago(2026, 12, 2, 12, 15), RULES)
    assert found is not None and (found.date, found.moved) == (TUESDAY, True)


def test_a_cancelled_occurrence_or_meeting_is_never_open() -> None:
    m = meeting(cancelled=(TUESDAY,))
    assert model.open_occurrence(m, chicago(2026, 12, 1, 19, 0), RULES) is None
    (occurrence,) = recurrence.occurrences(m, chicago(2026, 12, 1), chicago(2026, 12, 2))
    assert model.window(occurrence, RULES) is None
    assert (
        model.open_occurrence(replace(meeting(), status="cancelled"), chicago(2026, 12, 1, 19), RULES) is None
    )
    assert model.open_occurrence(meeting(), chicago(2026, 12, 8, 19), RULES) is not None


def test_when_windows_overlap_the_check_in_is_for_the_nearest_start() -> None:
    m = meeting(day=[1, 2], time="23:30", end_time="00:30")  # Monday and Tuesday nights
    long_windows = replace(RULES, opens_before=timedelta(hours=23), closes_after=timedelta(hours=2))
    found = model.open_occurrence(m, chicago(2026, 12, 1, 20, 0), long_windows)
    assert found is not None and found.date == TUESDAY


def test_another_occurrences_code_is_recognised_as_such() -> None:
    m = meeting()
    last_week = model.checkin_code(RULES.secret, "m1", TUESDAY - timedelta(weeks=1))
    found = model.occurrence_of_code(m, last_week.lower(), chicago(2026, 12, 1, 19), RULES)
    assert found is not None and found.date == TUESDAY - timedelta(weeks=1)
    assert model.occurrence_of_code(m, "AAAAAA", chicago(2026, 12, 1, 19), RULES) is None


# History and streaks


def attended(meeting_id: str, day: dt.date, method: model.Method = "code") -> Attended:
    start = datetime.combine(day, dt.time(19), tzinfo=CHICAGO).astimezone(UTC)
    return Attended(
        meeting_id, "org-a", day, start, start + timedelta(hours=1), f"Meeting {meeting_id}",
        "America/Chicago", "1 Main St", False, "in_person", method, start,
    )  # fmt: skip


def weeks_from(start: dt.date, *offsets: int) -> list[dt.date]:
    return [start + timedelta(weeks=n) for n in offsets]


def test_a_streak_counts_weeks_in_a_row_with_at_least_one_attendance() -> None:
    days = [*weeks_from(TUESDAY, 0, 1, 2, 4, 5), TUESDAY + timedelta(days=2)]  # twice in week 0
    assert model.streaks(days, TUESDAY + timedelta(weeks=5)) == model.Streaks(current=2, longest=3)


def test_a_streak_is_still_current_until_a_whole_week_passes_without_attendance() -> None:
    days = weeks_from(TUESDAY, 0, 1, 2)
    monday_after = TUESDAY + timedelta(weeks=3, days=-1)
    assert model.streaks(days, monday_after).current == 3  # this week is not over
    assert model.streaks(days, monday_after + timedelta(weeks=1)).current == 0
    assert model.streaks([], TUESDAY) == model.Streaks(0, 0)


def test_a_week_runs_monday_to_sunday() -> None:
    sunday, next_monday = TUESDAY + timedelta(days=5), TUESDAY + timedelta(days=6)
    assert model.streaks([TUESDAY, sunday], next_monday).longest == 1
    assert model.streaks([sunday, next_monday], next_monday).longest == 2


def test_the_summary_says_how_many_meetings_which_and_since_when() -> None:
    history = [
        attended("a", TUESDAY),
        attended("b", TUESDAY + timedelta(days=2)),
        attended("a", TUESDAY + timedelta(7)),
    ]
    s = model.summary(history, TUESDAY + timedelta(7))
    assert (s.total, s.meetings, s.first, s.last, s.weeks_attended) == (
        3,
        2,
        TUESDAY,
        TUESDAY + timedelta(7),
        2,
    )


# Disengagement


def test_usual_meetings_are_those_attended_twice_in_the_eight_weeks_up_to_the_latest_attendance() -> None:
    history = [
        *(attended("weekly", d) for d in weeks_from(TUESDAY, 0, 1, 2)),
        attended("once", TUESDAY + timedelta(days=3)),
        *(attended("long-ago", d) for d in weeks_from(TUESDAY, -12, -11)),
    ]
    assert model.usual_meetings(history) == ["weekly"]
    assert model.usual_meetings([attended("once", TUESDAY)]) == []


def test_a_member_is_disengaged_after_missing_every_usual_meeting_for_the_configured_weeks() -> None:
    history = [attended("a", d) for d in weeks_from(TUESDAY, 0, 1, 2)]
    last = history[-1].starts_at
    assert model.next_check(history, 3) == last + timedelta(weeks=3)
    assert model.disengagement(history, last + timedelta(weeks=3, seconds=-1), 3) is None
    lapse = model.disengagement(history, last + timedelta(weeks=4, days=2), 3)
    assert lapse is not None
    assert (lapse.last_attended, lapse.weeks, lapse.usual_meeting_ids) == (last, 4, ["a"])


def test_a_lapse_is_still_a_lapse_long_after_the_lookback_has_passed() -> None:
    history = [attended("a", d) for d in weeks_from(TUESDAY, 0, 1)]
    assert model.disengagement(history, history[-1].starts_at + timedelta(weeks=30), 3) is not None


def test_dropping_in_elsewhere_does_not_hide_a_lapse_but_a_new_habit_does() -> None:
    usual = [attended("a", d) for d in weeks_from(TUESDAY, 0, 1, 2)]
    now = usual[-1].starts_at + timedelta(weeks=4)
    once_elsewhere = [*usual, attended("b", TUESDAY + timedelta(weeks=4))]
    assert model.disengagement(once_elsewhere, now, 3) is not None
    new_habit = [*once_elsewhere, attended("b", TUESDAY + timedelta(weeks=5))]
    assert model.disengagement(new_habit, now + timedelta(weeks=1), 3) is None


def test_a_member_without_usual_meetings_is_never_disengaged() -> None:
    history = [attended("a", TUESDAY), attended("b", TUESDAY + timedelta(7))]
    assert model.next_check(history, 3) is None
    assert model.disengagement(history, datetime(2028, 1, 1, tzinfo=UTC), 3) is None


def test_one_lapse_is_announced_with_one_event_id_whenever_it_is_checked() -> None:
    history = [attended("a", d) for d in weeks_from(TUESDAY, 0, 1)]
    last = history[-1].starts_at
    first = model.disengagement(history, last + timedelta(weeks=3), 3)
    later = model.disengagement(history, last + timedelta(weeks=5), 3)
    assert first is not None and later is not None and first.key == later.key
    assert (
        model.disengaged_event("org-a", "m", first, 3).id == model.disengaged_event("org-a", "m", later, 3).id
    )


def test_a_retried_check_in_announces_with_the_same_event_id() -> None:
    a = attended("a", TUESDAY)
    again = replace(a, recorded_at=a.recorded_at + timedelta(seconds=5))
    assert model.recorded_event("org-a", "m", a).id == model.recorded_event("org-a", "m", again).id
    assert model.recorded_event("org-a", "m", a).id != model.recorded_event("org-b", "m", a).id


def test_a_week_whose_usual_meeting_was_cancelled_is_not_missed() -> None:
    usual = meeting(cancelled=(TUESDAY + timedelta(weeks=3),))
    history = [attended("m1", d) for d in weeks_from(TUESDAY, 0, 1, 2)]
    last = history[-1].starts_at
    three_weeks = last + timedelta(weeks=3, hours=2)  # the next three Tuesdays: one cancelled
    assert model.excused_weeks(last, three_weeks, {"m1": usual}) == 1
    assert model.disengagement(history, three_weeks, 3, {"m1": usual}) is None
    assert model.next_check(history, 3, 1) == last + timedelta(weeks=4)
    lapse = model.disengagement(history, three_weeks + timedelta(weeks=1), 3, {"m1": usual})
    assert lapse is not None and lapse.weeks == 4
    assert model.disengagement(history, three_weeks, 3, {"m1": meeting()}) is not None


def test_a_week_counts_as_missed_if_any_usual_meeting_met_in_it() -> None:
    tuesdays = meeting(cancelled=tuple(weeks_from(TUESDAY, 3, 4, 5)))
    thursdays = replace(meeting(day=4), id="m2")
    history = [*(attended("m1", d) for d in weeks_from(TUESDAY, 0, 1, 2))]
    history += [attended("m2", d + timedelta(days=2)) for d in weeks_from(TUESDAY, 1, 2)]
    last = max(a.starts_at for a in history)  # the Thursday of week 2
    now = last + timedelta(weeks=3, hours=2)
    usual = {"m1": tuesdays, "m2": thursdays}
    assert model.excused_weeks(last, now, usual) == 0
    assert model.disengagement(history, now, 3, usual) is not None


def test_nobody_misses_a_cancelled_or_vanished_usual_meeting() -> None:
    history = [attended("m1", d) for d in weeks_from(TUESDAY, 0, 1, 2)]
    much_later = history[-1].starts_at + timedelta(weeks=10)
    for gone in (replace(meeting(), status="cancelled"), None):
        assert model.disengagement(history, much_later, 3, {"m1": gone}) is None
        assert model.excused_weeks(history[-1].starts_at, much_later, {"m1": gone}) == 10


def test_scheduler_entries_event_subjects_and_ids_do_not_carry_the_member_id() -> None:
    member = "someone.private-7"
    ref = model.member_ref("org-a", member)
    assert member not in ref and ref != model.member_ref("org-b", member)
    assert member not in store.check_id("org-a", member, datetime(2027, 1, 1, tzinfo=UTC))
    assert member not in model.record_key("org-a", member, "m1", TUESDAY)
    assert member not in store.member_key("org-a", member)
    history = [attended("m1", d) for d in weeks_from(TUESDAY, 0, 1)]
    lapse = model.disengagement(history, history[-1].starts_at + timedelta(weeks=3), 3)
    assert lapse is not None
    event = model.disengaged_event("org-a", member, lapse, 3)
    assert member not in event.subject and event.data.member_id == member


def test_a_wrong_code_holds_its_slot_for_the_failure_window() -> None:
    now = datetime(2026, 12, 1, 19, tzinfo=UTC)
    assert model.failure_counts(now - model.FAILURE_WINDOW + timedelta(seconds=1), now)
    assert not model.failure_counts(now - model.FAILURE_WINDOW, now)
    failures = [now - timedelta(minutes=m) for m in (1, 4, 20)]
    assert model.retry_after(failures, now) == model.FAILURE_WINDOW - timedelta(minutes=4)
    assert model.retry_after([], now) == timedelta(0)


# Proof


def test_the_csv_names_the_member_and_organization_and_defuses_formulas() -> None:
    history = service.History(
        "m-7", "org-a", [replace(attended("a", TUESDAY), name="=HYPERLINK(1)")], model.summary([], TUESDAY)
    )
    produced = proof.Produced("m-7", "org-a", "Organization A", datetime(2026, 12, 2, 9, tzinfo=UTC))
    text = proof.csv_text(history, produced)
    assert "Member,m-7\r\n" in text and "Organization,Organization A (org-a)" in text
    assert "Produced,2026-12-02 09:00:00 UTC" in text
    assert "'=HYPERLINK(1),2026-12-01,19:00,20:00,America/Chicago,1 Main St,no" in text


def test_the_printable_page_escapes_what_meetings_are_named() -> None:
    history = service.History(
        "m-7",
        "org-a",
        [replace(attended("a", TUESDAY), name="<script>x</script>")],
        model.summary([], TUESDAY),
    )
    page = proof.html_page(
        history, proof.Produced("m-7", "org-a", "A & B", datetime(2026, 12, 2, tzinfo=UTC))
    )
    assert "<script>x" not in page and "&lt;script&gt;x" in page and "A &amp; B" in page
    assert "@media print" in page


# The disengagement check, on the real document store and NATS


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[NatsBroker]:
    started = make_broker(stack.settings("meetings"))
    await started.start()
    yield started
    await started.stop()


async def test_a_member_who_stops_coming_is_announced_disengaged_once_by_the_durable_check(
    scratch_db: AsyncDatabase[dict[str, Any]], stack: Stack, broker: NatsBroker, admin_nc: NatsClient
) -> None:
    settings = Settings(disengaged_after_weeks=1, jwt_public_key_file=stack.public_key)
    publisher = EventPublisher(broker, MEETING_EVENTS)
    org, member = "org-a", f"drifter-{new_id()[-8:]}"
    listed = meeting()
    await meetings_store.meetings(scratch_db, org).insert_one(meetings_store.to_doc(listed))
    # Two Tuesdays in a row: a usual meeting.
    for day in weeks_from(TUESDAY, 0, 1):
        occurrence = recurrence.occurrence_on(listed, day)
        assert occurrence is not None
        recorded = await service.mark(
            scratch_db,
            publisher,
            settings,
            org,
            "m1",
            day,
            member,
            occurrence.starts_at + timedelta(minutes=5),
        )
        assert recorded.created
    last = recurrence.occurrence_on(listed, TUESDAY + timedelta(weeks=1))
    assert last is not None

    # One check, a week after the last attendance (none after the first: one visit is no habit).
    checks = store.checks(scratch_db)
    due = last.starts_at.astimezone(UTC) + timedelta(weeks=1)
    assert [(e["member_id"], e["at"]) for e in await scheduler.due_by(checks, due + timedelta(weeks=9))] == [
        (member, due)
    ]

    # Two replicas run the timers, their clocks two weeks after the last attendance.
    shift = last.starts_at + timedelta(weeks=2) - datetime.now(UTC)
    fast = settings.model_copy(update={"scheduler_interval_seconds": 0.1})
    replicas = [
        asyncio.create_task(
            service.run_timers(scratch_db, publisher, fast, clock=lambda: datetime.now(UTC) + shift)
        )
        for _ in range(2)
    ]
    try:
        await eventually(lambda: _none_due(checks, due))
    finally:
        for task in replicas:
            task.cancel()
        await asyncio.gather(*replicas, return_exceptions=True)

    stored = await admin_nc.jetstream().get_last_msg("MEETINGS", "rn.org-a.meetings.member_disengaged.v1")
    event = json.loads(stored.data or b"")
    assert event["data"] == {
        "member_id": member, "weeks": 2, "last_attended": last.starts_at.astimezone(UTC).date().isoformat(),
        "usual_meeting_ids": ["m1"],
    }  # fmt: skip
    doc = await store.member(scratch_db, org, member)
    assert doc is not None and [e["id"] for e in doc["outbox"]] == [event["id"]]  # announced once
    assert (await store.record(scratch_db, model.record_key(org, member, "m1", TUESDAY)) or {})[
        "method"
    ] == "facilitator"

    # Marking the same occurrence again records nothing new.
    again = await service.mark(scratch_db, publisher, settings, org, "m1", TUESDAY, member, due)
    assert not again.created and len(store.history(await store.member(scratch_db, org, member))) == 2


async def _none_due(checks: Any, at: datetime) -> bool:
    return not await scheduler.due_by(checks, at)


async def test_a_history_missing_an_attendance_catches_up_from_its_event(
    scratch_db: AsyncDatabase[dict[str, Any]],
    stack: Stack,
    broker: NatsBroker,
    admin_nc: NatsClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(jwt_public_key_file=stack.public_key)
    publisher = EventPublisher(broker, MEETING_EVENTS)
    org, member = "org-a", f"crash-{new_id()[-8:]}"
    listed = meeting()
    await meetings_store.meetings(scratch_db, org).insert_one(meetings_store.to_doc(listed))

    async def crash(*_: Any) -> None:
        raise ConnectionError("the process died after the record, before the history")

    # A writer dies between the record (with its event) and the history; no repeat check-in follows.
    with monkeypatch.context() as m:
        m.setattr(service, "remember", crash)
        for day in weeks_from(TUESDAY, 0, 1):
            occurrence = recurrence.occurrence_on(listed, day)
            assert occurrence is not None
            at = occurrence.starts_at + timedelta(minutes=5)
            with pytest.raises(ConnectionError):
                await service.mark(scratch_db, publisher, settings, org, "m1", day, member, at)
    assert store.history(await store.member(scratch_db, org, member)) == []

    # The events were published with their records: handling them (as meetings' own subscriber does)
    # fills the history, and the member's disengagement check is scheduled after it.
    js = admin_nc.jetstream()
    subject = "rn.org-a.meetings.attendance_recorded.v1"
    sub = await js.subscribe(subject, stream="MEETINGS", ordered_consumer=True)
    mine: list[AttendanceRecorded] = []
    while len(mine) < 2:
        msg = await sub.next_msg(timeout=5)
        event = AttendanceRecorded.model_validate_json(msg.data)
        if event.data.member_id == member:
            mine.append(event)
    await sub.unsubscribe()
    for event in [*mine, mine[0]]:  # a redelivered event adds nothing
        await service.catch_up(scratch_db, settings, event)
    history = store.history(await store.member(scratch_db, org, member))
    assert [a.occurrence for a in model.in_order(history)] == weeks_from(TUESDAY, 0, 1)
    due = history[-1].starts_at + timedelta(weeks=settings.disengaged_after_weeks)
    checks = await scheduler.due_by(store.checks(scratch_db), due)
    assert [(e["member_id"], e["at"]) for e in checks] == [(member, due)]


async def test_after_five_wrong_codes_a_member_waits_even_with_the_right_one(
    scratch_db: AsyncDatabase[dict[str, Any]], stack: Stack, broker: NatsBroker
) -> None:
    settings = Settings(jwt_public_key_file=stack.public_key)
    publisher = EventPublisher(broker, MEETING_EVENTS)
    org, member = "org-a", f"guesser-{new_id()[-8:]}"
    listed = meeting()
    await meetings_store.meetings(scratch_db, org).insert_one(meetings_store.to_doc(listed))
    now = chicago(2026, 12, 1, 19, 10).astimezone(UTC)
    right = model.checkin_code(settings.checkin_secret, "m1", TUESDAY)

    async def attempt(code: str, at: datetime = now) -> int:
        try:
            await service.check_in(scratch_db, publisher, settings, org, member, "m1", code, at)
        except service.TooManyAttempts as exc:
            assert exc.headers is not None and int(exc.headers["Retry-After"]) >= 1
            return exc.status_code
        except Problem as exc:
            return exc.status
        return 201

    # Ten wrong guesses at once: five are compared, the rest wait.
    answers = await asyncio.gather(*(attempt(f"WRONG{n}") for n in range(10)))
    assert sorted(answers) == [422] * 5 + [429] * 5
    assert await attempt(right, now + timedelta(minutes=1)) == 429
    with pytest.raises(service.TooManyAttempts) as refused:
        await service.check_in(scratch_db, publisher, settings, org, member, "m1", right, now)
    assert refused.value.headers == {"Retry-After": str(15 * 60)}
    # Another member, or the same one once the failures are old, is not held back.
    later = now + model.FAILURE_WINDOW
    assert await attempt(right, later) == 201
    assert await store.failures(scratch_db).count_documents({}) == 0

    # The scheduled entries forget failures nobody followed with the right code.
    other = f"other-{new_id()[-8:]}"
    with pytest.raises(Problem):
        await service.check_in(scratch_db, publisher, settings, org, other, "m1", "WRONG", now)
    assert await store.failures(scratch_db).count_documents({}) == 1
    key = model.record_key(org, other, "m1", TUESDAY)
    due = await scheduler.due_by(store.checks(scratch_db), later)
    (entry,) = [e for e in due if e.get("failures") == key]
    await store.forget_failures(scratch_db, entry["failures"], later)
    assert await store.failures(scratch_db).count_documents({}) == 0
