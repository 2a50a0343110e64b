"""Check-in rules with an injected clock: due times, nudges, drift and the risk rule."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.mentoring import CheckInOverdue, MenteeDrifting
from services.mentoring.checkins import model
from services.mentoring.checkins.api import CadenceUpdate, CheckInCreate, CheckInSettings
from services.mentoring.checkins.model import CheckIn, Pair, Rules

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = Rules(member_after=timedelta(hours=12), mentor_after=timedelta(hours=36), drift_after=3)


def pair() -> Pair:
    return model.started("org-a", "match-1", "member-1", "mentor-1", START)


def on_time(due_at: datetime, who: model.Nudge) -> datetime:
    """When the scheduler fires this nudge, without downtime."""
    return model.nudge_times(due_at, RULES)[who]


def check_in(need_help_now: bool = False, craving: int = 2) -> CheckIn:
    return CheckIn(
        "ci-1", "org-a", "match-1", "member-1", "mentor-1", START, 3, craving, need_help_now, "a private note"
    )


# Cadence and due times


def test_a_new_pair_checks_in_weekly_first_due_a_week_after_the_match_starts() -> None:
    p = pair()
    assert (p.cadence, p.due_at, p.active) == ("weekly", START + timedelta(days=7), True)


@pytest.mark.parametrize(("cadence", "days"), [("daily", 1), ("several_weekly", 2), ("weekly", 7)])
def test_each_check_in_sets_the_next_one_interval_later(cadence: model.Cadence, days: int) -> None:
    p = model.with_cadence(pair(), cadence, START)
    at = START + timedelta(hours=30)
    after = model.checked_in(p, at)
    assert after.due_at == at + timedelta(days=days)
    assert after.last_check_in_at == at


def test_a_new_cadence_counts_from_the_last_check_in() -> None:
    p = model.checked_in(pair(), START + timedelta(days=1))
    after = model.with_cadence(p, "several_weekly", START + timedelta(days=2))
    assert after.due_at == START + timedelta(days=3)


def test_a_faster_cadence_never_makes_a_check_in_due_in_the_past() -> None:
    now = START + timedelta(days=5)
    assert model.with_cadence(pair(), "daily", now).due_at == now


def test_an_older_check_in_applied_late_changes_nothing() -> None:
    newer = model.checked_in(pair(), START + timedelta(days=2))
    assert model.checked_in(newer, START + timedelta(days=1)) == newer


def test_a_check_in_ends_a_run_of_missed_ones() -> None:
    p = pair()
    for _ in range(3):
        outcome = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
        assert outcome is not None
        p = outcome[0]
    assert (p.missed, p.drifting) == (3, True)
    after = model.checked_in(p, p.due_at)
    assert (after.missed, after.drifting, after.nudged) == (0, False, ())


# Nudges and drift


def test_nudges_come_after_the_due_time_member_first_then_mentor() -> None:
    due = pair().due_at
    assert model.nudge_times(due, RULES) == {
        "member": due + timedelta(hours=12),
        "mentor": due + timedelta(hours=36),
    }


def test_the_member_is_nudged_once_per_due_time() -> None:
    p = pair()
    outcome = model.overdue(p, p.due_at, "member", RULES, on_time(p.due_at, "member"))
    assert outcome is not None
    after, events = outcome
    (event,) = events
    assert isinstance(event, CheckInOverdue)
    assert (event.data.nudge, event.data.due_at, event.data.mentor_id) == ("member", p.due_at, "mentor-1")
    assert after.nudged == ("member",) and after.due_at == p.due_at
    assert model.overdue(after, p.due_at, "member", RULES, on_time(p.due_at, "member")) is None


def test_the_mentors_nudge_counts_the_due_time_missed_and_the_next_is_due_an_interval_later() -> None:
    p = pair()
    member = model.overdue(p, p.due_at, "member", RULES, on_time(p.due_at, "member"))
    assert member is not None
    outcome = model.overdue(member[0], p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
    assert outcome is not None
    after, events = outcome
    assert [e.data.nudge for e in events if isinstance(e, CheckInOverdue)] == ["mentor"]
    assert (after.missed, after.nudged, after.due_at) == (1, (), p.due_at + timedelta(days=7))


def test_a_due_time_already_past_when_the_mentor_is_nudged_counts_as_missed_too() -> None:
    # Daily, with the mentor told 36 hours on: the next day's due time has passed by then.
    p = model.with_cadence(pair(), "daily", START)
    outcome = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
    assert outcome is not None
    after = outcome[0]
    assert (after.missed, after.due_at) == (2, p.due_at + timedelta(days=2))
    assert after.due_at > on_time(p.due_at, "mentor")


def test_after_a_day_of_downtime_a_daily_pair_gets_one_nudge_per_side_not_one_per_missed_day() -> None:
    p = model.with_cadence(pair(), "daily", START)
    first_due = p.due_at
    back = on_time(first_due, "mentor") + timedelta(days=1)  # the scheduler was down for a day
    sent: list[CheckInOverdue | MenteeDrifting] = []
    timers = [(first_due, who) for who in ("member", "mentor")]
    while timers:  # what the scheduler finds due when it is back, in order, until nothing is
        due_at, who = timers.pop(0)
        outcome = model.overdue(p, due_at, who, RULES, back)  # type: ignore[arg-type]
        if outcome is None:
            continue
        p, events = outcome
        sent += events
        timers += [(p.due_at, w) for w, at in model.nudge_times(p.due_at, RULES).items() if at <= back]
    nudges = [e.data.nudge for e in sent if isinstance(e, CheckInOverdue)]
    assert nudges == ["member", "mentor"]
    assert p.due_at > back and p.due_at == first_due + timedelta(days=3)
    # The days skipped still count, so drift is told as if nudges had come on time.
    assert p.missed == 3 and any(isinstance(e, MenteeDrifting) for e in sent)


def test_a_nudge_for_a_due_time_a_check_in_moved_does_nothing() -> None:
    p = pair()
    moved = model.checked_in(p, START + timedelta(days=6))
    assert model.overdue(moved, p.due_at, "member", RULES, on_time(p.due_at, "member")) is None
    assert model.overdue(moved, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor")) is None


def test_nothing_is_nudged_once_the_match_ended() -> None:
    p = model.ended(pair(), START)
    assert model.overdue(p, p.due_at, "member", RULES, on_time(p.due_at, "member")) is None


def test_a_run_of_missed_check_ins_tells_the_mentor_once() -> None:
    p, drifts = pair(), []
    for _ in range(6):
        outcome = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
        assert outcome is not None
        p, events = outcome
        drifts.append([e for e in events if isinstance(e, MenteeDrifting)])
    assert [len(d) for d in drifts] == [0, 0, 1, 0, 0, 0]
    assert (drifts[2][0].data.signal, drifts[2][0].data.mentor_id) == ("missed_check_ins", "mentor-1")


def test_a_new_run_after_a_check_in_tells_the_mentor_again() -> None:
    p = pair()
    announced = 0
    for step in range(7):
        if step == 3:
            p = model.checked_in(p, p.due_at)
        outcome = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
        assert outcome is not None
        p, events = outcome
        announced += sum(isinstance(e, MenteeDrifting) for e in events)
    assert announced == 2


def test_a_nudge_fired_twice_makes_the_same_event() -> None:
    p = pair()
    first = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
    again = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
    assert first is not None and again is not None
    assert [e.id for e in first[1]] == [e.id for e in again[1]]
    member = model.overdue(p, p.due_at, "member", RULES, on_time(p.due_at, "member"))
    assert member is not None and member[1][0].id != first[1][0].id


def test_overdue_and_drift_events_carry_ids_only() -> None:
    p = pair()
    for _ in range(2):
        p = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))[0]  # type: ignore[index]
    outcome = model.overdue(p, p.due_at, "mentor", RULES, on_time(p.due_at, "mentor"))
    assert outcome is not None
    for event in outcome[1]:
        assert set(event.data.model_dump()) <= {
            "match_id",
            "member_id",
            "mentor_id",
            "due_at",
            "nudge",
            "signal",
        }


# The risk rule


@pytest.mark.parametrize(
    ("craving", "need_help_now", "threshold", "risk"),
    [
        (0, True, 8, True),
        (7, False, 8, False),
        (8, False, 8, True),
        (10, False, 8, True),
        (3, False, 3, True),
    ],
)
def test_help_now_or_a_craving_at_the_threshold_is_a_risk(
    craving: int, need_help_now: bool, threshold: int, risk: bool
) -> None:
    assert model.is_risk(craving, need_help_now, threshold) is risk


def test_help_now_is_imminent_and_a_strong_craving_high() -> None:
    now = model.alert_event(check_in(need_help_now=True))
    craving = model.alert_event(check_in(craving=9))
    assert (now.data.severity, craving.data.severity) == ("imminent", "high")
    assert (now.data.reason, now.data.requested_by, now.data.member_id) == (
        "risk_flag",
        "member-1",
        "member-1",
    )
    assert now.data.dedup_key == "member-1"  # merges with the member's own alerts into one open case
    assert now.id == model.alert_event(check_in(need_help_now=True)).id  # a retried write, the same event
    assert "private" not in now.model_dump_json()


# What the routes accept


def test_a_check_in_takes_mood_1_to_5_craving_0_to_10_and_a_short_note() -> None:
    ok = CheckInCreate.model_validate({"mood": 5, "craving": 0, "note": "n" * 2000, "need_help_now": True})
    assert ok.need_help_now
    assert CheckInCreate.model_validate({"mood": 1, "craving": 10}).need_help_now is False
    for bad in (
        {"mood": 0, "craving": 1},
        {"mood": 6, "craving": 1},
        {"mood": 3, "craving": 11},
        {"mood": 3, "craving": -1},
        {"mood": "3", "craving": 1},
        {"mood": 3, "craving": 1, "note": "n" * 2001},
        {"mood": 3, "craving": 1, "need_help_now": "yes"},
        {"mood": 3, "craving": 1, "feeling": "ok"},
        {"craving": 1},
    ):
        with pytest.raises(ValidationError):
            CheckInCreate.model_validate(bad)


def test_a_cadence_is_one_of_three_and_a_threshold_1_to_10() -> None:
    assert CadenceUpdate.model_validate({"cadence": "several_weekly"}).cadence == "several_weekly"
    with pytest.raises(ValidationError):
        CadenceUpdate.model_validate({"cadence": "monthly"})
    assert CheckInSettings.model_validate({"craving_alert_threshold": 10}).craving_alert_threshold == 10
    for bad in (0, 11, 7.5, "7"):
        with pytest.raises(ValidationError):
            CheckInSettings.model_validate({"craving_alert_threshold": bad})
