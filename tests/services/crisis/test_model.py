from datetime import UTC, datetime, timedelta

import pytest

from contracts.crisis import (
    CrisisAcknowledged,
    CrisisEscalated,
    CrisisFollowUpScheduled,
    CrisisRaised,
    CrisisSeverityRaised,
)
from services.crisis.model import (
    IMMINENT_GUIDANCE,
    BadResolution,
    Case,
    InvalidTransition,
    Level,
    NobodyToReach,
    NotYours,
    Override,
    Protocol,
    Reach,
    Roster,
    acknowledge,
    cancel,
    check_deactivation,
    check_protocol,
    check_regional_team,
    complete_follow_up,
    ladder,
    level_targets,
    merge_alert,
    on_deadline,
    raise_case,
    resolve,
    update_safety_plan,
)

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ROSTER = Roster(
    id="oncall", time_zone="UTC", responder_ids=("r1", "r2"), rotation_start=datetime(2026, 1, 5, 9)
)
STAFF = {
    "r1": frozenset({"responder"}),
    "r2": frozenset({"responder"}),
    "lead": frozenset({"responder"}),
    "coord": frozenset({"coordinator"}),
}
REACH = Reach(staff=STAFF, rosters={"oncall": ROSTER}, regional_team=("reg-1",), region="lakeshore")
TWO_LEVELS = Protocol(
    levels=(Level(roster_id="oncall", timeout_minutes=5), Level(responder_ids=("lead",), timeout_minutes=10)),
    ack_timeout_minutes=30,
)


def open_case(protocol: Protocol = TWO_LEVELS, severity: str = "high", reach: Reach = REACH) -> Case:
    case, _ = raise_case(
        org="org-a",
        member_id="m1",
        severity=severity,  # type: ignore[arg-type]
        channel="member",
        dedup_key="m1",
        protocol=protocol,
        reach=reach,
        now=MONDAY,
    )
    return case


def escalations(events: list) -> list[tuple[int, list[str]]]:  # type: ignore[type-arg]
    return [(e.data.level, e.data.responder_ids) for e in events if isinstance(e, CrisisEscalated)]


def test_the_roster_rotates_weekly_in_order() -> None:
    assert ROSTER.on_call(MONDAY) == "r1"
    assert ROSTER.on_call(MONDAY + timedelta(days=6, hours=23)) == "r1"
    assert ROSTER.on_call(MONDAY + timedelta(days=7)) == "r2"
    assert ROSTER.on_call(MONDAY + timedelta(days=14)) == "r1"


def test_the_handover_stays_at_local_wall_time_across_daylight_saving() -> None:
    # Chicago springs forward on 2026-03-08: the 09:00 local handover moves from 15:00 to 14:00 UTC.
    roster = Roster(
        id="oncall",
        time_zone="America/Chicago",
        responder_ids=("r1", "r2"),
        rotation_start=datetime(2026, 3, 2, 9),
    )
    assert roster.on_call(datetime(2026, 3, 9, 13, 59, tzinfo=UTC)) == "r1"
    assert roster.on_call(datetime(2026, 3, 9, 14, 0, tzinfo=UTC)) == "r2"
    assert roster.on_call(datetime(2026, 3, 2, 14, 59, tzinfo=UTC)) is None  # before the first handover


def test_a_dated_override_wins_over_the_rotation() -> None:
    cover = Override(start=MONDAY, end=MONDAY + timedelta(days=1), responder_id="lead")
    roster = Roster(**{**ROSTER.__dict__, "overrides": (cover,)})
    assert roster.on_call(MONDAY + timedelta(hours=3)) == "lead"
    assert roster.on_call(MONDAY + timedelta(days=1)) == "r1"


def test_raising_a_case_escalates_level_one_to_the_on_call_responder() -> None:
    case, events = raise_case(
        org="org-a",
        member_id="m1",
        severity="high",
        channel="member",
        dedup_key="m1",
        protocol=TWO_LEVELS,
        reach=REACH,
        now=MONDAY,
    )
    raised = events[0]
    assert isinstance(raised, CrisisRaised) and raised.data.case_id == case.id
    assert escalations(events) == [(1, ["r1"])]
    assert (case.state, case.level, case.deadline) == ("triggered", 1, MONDAY + timedelta(minutes=5))
    assert "988" in case.guidance


def test_an_empty_roster_slot_falls_through_to_the_next_level() -> None:
    gap = Override(start=MONDAY, end=MONDAY + timedelta(days=1), responder_id=None)
    roster = Roster(**{**ROSTER.__dict__, "overrides": (gap,)})
    case = open_case(reach=Reach(staff=STAFF, rosters={"oncall": roster}))
    assert (case.level, case.notified) == (2, ["lead"])
    assert [e["what"] for e in case.timeline] == ["raised", "level_skipped", "escalated"]


def test_nobody_acknowledging_walks_the_ladder_then_repeats_the_catch_all() -> None:
    case = open_case()
    assert on_deadline(case, REACH, MONDAY + timedelta(minutes=4)) == []  # not yet due
    second = on_deadline(case, REACH, MONDAY + timedelta(minutes=5))
    assert escalations(second) == [(2, ["lead"])]
    catch_all = on_deadline(case, REACH, MONDAY + timedelta(minutes=15))
    assert escalations(catch_all) == [(3, ["coord"])]
    again = on_deadline(case, REACH, MONDAY + timedelta(minutes=20))
    assert escalations(again) == [(3, ["coord"])]
    assert case.deadline == MONDAY + timedelta(minutes=25)


def test_a_deadline_that_fires_twice_escalates_once() -> None:
    case = open_case()
    at = MONDAY + timedelta(minutes=5)
    assert len(on_deadline(case, REACH, at)) == 1
    assert on_deadline(case, REACH, at) == []


def test_the_ladder_repeats_before_the_catch_all() -> None:
    protocol = Protocol(levels=TWO_LEVELS.levels, repeats=2, catch_all="regional_team")
    steps = [(s.level, s.round, s.catch_all) for s in ladder(protocol, "high")]
    assert steps == [
        (1, 1, False),
        (2, 1, False),
        (1, 2, False),
        (2, 2, False),
        (1, 3, False),
        (2, 3, False),
        (3, 3, True),
    ]


def test_imminent_risk_starts_higher_and_shows_emergency_guidance() -> None:
    case = open_case(severity="imminent")
    assert (case.level, case.notified) == (2, ["lead"])
    assert "emergency number" in case.guidance and "988" in case.guidance


def test_without_a_protocol_the_coordinators_are_reached() -> None:
    case = open_case(protocol=Protocol())
    assert (case.level, case.notified) == (1, ["coord"])


def test_a_catch_all_without_coordinators_falls_to_the_regional_team() -> None:
    reach = Reach(
        staff={"r1": frozenset({"responder"})}, rosters={}, regional_team=("reg-1",), region="lakeshore"
    )
    case, events = raise_case(
        org="org-a",
        member_id="m1",
        severity="high",
        channel="member",
        dedup_key="m1",
        protocol=Protocol(),
        reach=reach,
        now=MONDAY,
    )
    escalated = events[-1]
    assert isinstance(escalated, CrisisEscalated)
    assert (escalated.data.catch_all, escalated.data.region, case.regional) == (
        "regional_team",
        "lakeshore",
        True,
    )


def test_nobody_at_all_is_retried_not_dropped() -> None:
    case = open_case(protocol=Protocol(), reach=Reach(staff={}, rosters={}))
    assert case.timeline[-1]["what"] == "no_responder_reachable"
    assert case.deadline == MONDAY + timedelta(minutes=1)


def test_acknowledging_stops_escalation() -> None:
    case = open_case()
    events = acknowledge(case, "r1", MONDAY + timedelta(minutes=1))
    assert isinstance(events[0], CrisisAcknowledged)
    assert on_deadline(case, REACH, MONDAY + timedelta(minutes=5)) == []
    assert acknowledge(case, "r1", MONDAY + timedelta(minutes=2)) == []  # a double click


def test_an_acknowledgement_not_followed_by_resolution_re_triggers() -> None:
    case = open_case()
    acknowledge(case, "r1", MONDAY + timedelta(minutes=1))
    events = on_deadline(case, REACH, MONDAY + timedelta(minutes=31))
    assert case.state == "triggered"
    assert escalations(events) == [(1, ["r1"])]
    assert "acknowledgement_timed_out" in [e["what"] for e in case.timeline]


def test_resolving_records_the_referral_and_schedules_a_caring_contact() -> None:
    case = open_case()
    at = MONDAY + timedelta(minutes=3)
    events = resolve(
        case, responder_id="r1", outcome="referred", referral="warm_handoff", partner_id="clinic-9", now=at
    )
    follow_up = events[-1]
    assert isinstance(follow_up, CrisisFollowUpScheduled)
    assert follow_up.data.responder_id == "r1" and follow_up.data.due_by <= at + timedelta(hours=24)
    assert (case.state, case.deadline, case.partner_id) == ("resolved", None, "clinic-9")
    with pytest.raises(InvalidTransition):
        acknowledge(case, "r2", at)


def test_a_warm_handoff_must_name_the_partner() -> None:
    with pytest.raises(BadResolution):
        resolve(
            open_case(),
            responder_id="r1",
            outcome="referred",
            referral="warm_handoff",
            partner_id=None,
            now=MONDAY,
        )


def test_a_cancelled_case_never_escalates_again() -> None:
    case = open_case()
    cancel(case, by="m1", reason="raised_by_mistake", now=MONDAY)
    assert on_deadline(case, REACH, MONDAY + timedelta(hours=1)) == []
    with pytest.raises(InvalidTransition):
        cancel(case, by="m1", reason="duplicate", now=MONDAY)


def test_a_milder_repeated_alert_joins_the_case_and_changes_nothing_else() -> None:
    case = open_case(severity="high")
    assert merge_alert(case, severity="low", channel="member", by="m1", reach=REACH, now=MONDAY) == []
    assert (case.severity, case.level) == ("high", 1)
    assert case.timeline[-1]["what"] == "alert_merged"


def test_an_imminent_alert_joining_a_case_escalates_it_at_once_to_the_imminent_start() -> None:
    case = open_case(severity="high")
    assert (case.level, case.notified) == (1, ["r1"])
    later = MONDAY + timedelta(minutes=1)
    events = merge_alert(case, severity="imminent", channel="mentor", by="mentor-1", reach=REACH, now=later)
    raised = [e for e in events if isinstance(e, CrisisSeverityRaised)]
    assert [(e.data.previous, e.data.severity, e.data.channel) for e in raised] == [
        ("high", "imminent", "mentor")
    ]
    assert escalations(events) == [(2, ["lead"])]  # imminent starts at level 2, without waiting for the timer
    assert case.deadline == later + timedelta(minutes=10)
    assert case.guidance == IMMINENT_GUIDANCE
    assert [e["what"] for e in case.timeline][-3:] == ["alert_merged", "severity_raised", "escalated"]
    # The new ladder goes on from there: level 2's timeout leads to the catch-all.
    assert escalations(on_deadline(case, REACH, later + timedelta(minutes=10)))[0][0] == 3


def test_a_graver_alert_on_a_case_already_past_the_new_start_only_records_the_severity() -> None:
    case = open_case(severity="high")
    on_deadline(case, REACH, MONDAY + timedelta(minutes=5))  # now at level 2
    events = merge_alert(case, severity="imminent", channel="member", by="m1", reach=REACH, now=MONDAY)
    assert [type(e) for e in events] == [CrisisSeverityRaised]
    assert (case.level, case.severity) == (2, "imminent")
    assert escalations(on_deadline(case, REACH, MONDAY + timedelta(minutes=15)))[0][0] == 3


def test_a_graver_alert_on_an_acknowledged_case_keeps_the_responder_on_it() -> None:
    case = open_case(severity="moderate")
    acknowledge(case, "r1", MONDAY)
    events = merge_alert(case, severity="imminent", channel="member", by="m1", reach=REACH, now=MONDAY)
    assert [type(e) for e in events] == [CrisisSeverityRaised]
    assert (case.state, case.acknowledged_by, case.severity) == ("acknowledged", "r1", "imminent")


@pytest.mark.parametrize(
    ("protocol", "reason"),
    [
        (Protocol(levels=(Level(responder_ids=("ghost",)),)), "unknown responders"),
        (Protocol(levels=(Level(roster_id="missing"),)), "does not exist"),
        (Protocol(levels=(Level(),)), "reaches nobody"),
    ],
)
def test_a_protocol_that_could_reach_nobody_is_refused(protocol: Protocol, reason: str) -> None:
    with pytest.raises(NobodyToReach, match=reason):
        check_protocol(protocol, REACH)


def test_a_level_by_role_ending_at_the_regional_team_is_accepted() -> None:
    check_protocol(Protocol(levels=(Level(role="coordinator"),), catch_all="regional_team"), REACH)


def test_a_catch_all_with_nobody_behind_it_is_refused() -> None:
    no_coordinator = Reach(staff={"r1": frozenset({"responder"})}, rosters={})
    with pytest.raises(NobodyToReach, match="no coordinator"):
        check_protocol(Protocol(levels=(Level(responder_ids=("r1",)),)), no_coordinator)
    with pytest.raises(NobodyToReach, match="no team"):
        check_protocol(Protocol(catch_all="regional_team"), no_coordinator)


def test_a_regional_team_may_name_only_regional_responders() -> None:
    check_regional_team(["r1", "r2"], {"r1", "r2", "r3"})
    with pytest.raises(NobodyToReach, match="ghost"):
        check_regional_team(["r1", "ghost"], {"r1"})


def test_a_case_opened_from_a_queued_alert_says_when_the_person_reached_out_and_times_from_now() -> None:
    received = MONDAY - timedelta(seconds=40)  # accepted in a surge, opened 40 s later
    case, _ = raise_case(
        org="org-a", member_id="m1", severity="high", channel="member", dedup_key="m1",
        protocol=TWO_LEVELS, reach=REACH, now=MONDAY, case_id="c-queued", received_at=received,
    )  # fmt: skip
    assert (case.id, case.opened_at) == ("c-queued", received)
    assert case.deadline == MONDAY + timedelta(minutes=5)  # level 1's full time, from now
    assert case.timeline[0]["at"] == MONDAY


def test_an_other_referral_says_what_it_was_and_only_a_warm_handoff_names_a_partner() -> None:
    with pytest.raises(BadResolution):
        resolve(
            open_case(), responder_id="r1", outcome="referred", referral="other", partner_id=None, now=MONDAY
        )
    with pytest.raises(BadResolution):
        resolve(
            open_case(), responder_id="r1", outcome="safe", referral="988", partner_id="clinic-9", now=MONDAY
        )
    case = open_case()
    resolve(
        case, responder_id="r1", outcome="referred", referral="other", partner_id=None,
        referral_other="<sealed>", now=MONDAY,
    )  # fmt: skip
    assert (case.referral, case.referral_other) == ("other", "<sealed>")


def test_the_caring_contact_is_owed_by_the_resolver_and_done_once() -> None:
    case = open_case()
    resolve(case, responder_id="r1", outcome="safe", referral="none", partner_id=None, now=MONDAY)
    assert (case.follow_up_by, case.follow_up_due) == ("r1", MONDAY + timedelta(hours=24))
    with pytest.raises(NotYours):
        complete_follow_up(case, by="r2", for_anyone=False, now=MONDAY)
    (done,) = complete_follow_up(case, by="r1", for_anyone=False, now=MONDAY + timedelta(hours=25))
    assert done.data.on_time is False and case.follow_up_done_at == MONDAY + timedelta(hours=25)
    assert complete_follow_up(case, by="r1", for_anyone=False, now=MONDAY + timedelta(hours=26)) == []
    with pytest.raises(InvalidTransition):
        complete_follow_up(open_case(), by="r1", for_anyone=True, now=MONDAY)


def test_a_case_says_which_level_fires_next_until_it_reaches_the_catch_all() -> None:
    protocol = Protocol(levels=(Level(responder_ids=("r1",)), Level(responder_ids=("r2",))))
    reach = Reach(staff={"r1": frozenset({"responder"}), "r2": frozenset({"responder"}),
                         "c1": frozenset({"coordinator"})}, rosters={})  # fmt: skip
    case, _ = raise_case(
        org="o", member_id="m", severity="high", channel="member", dedup_key="m",
        protocol=protocol, reach=reach, now=MONDAY,
    )  # fmt: skip
    assert (case.level, case.next_level, case.at_catch_all) == (1, 2, False)
    on_deadline(case, reach, MONDAY + timedelta(hours=1))
    assert (case.level, case.next_level) == (2, 3)
    on_deadline(case, reach, MONDAY + timedelta(hours=2))
    assert (case.at_catch_all, case.next_level) == (True, None)


def test_a_roster_says_when_the_on_call_person_changes_and_to_whom() -> None:
    override = Override(datetime(2026, 3, 4, 15, tzinfo=UTC), datetime(2026, 3, 4, 18, tzinfo=UTC), "r3")
    roster = Roster(
        id="main",
        time_zone="America/Chicago",
        responder_ids=("r1", "r2"),
        rotation_start=datetime(2026, 3, 2, 9, 0),
        overrides=(override,),
    )
    monday_noon = datetime(2026, 3, 2, 18, tzinfo=UTC)  # 12:00 in Chicago, r1's week
    assert roster.on_call(monday_noon) == "r1"
    assert roster.next_change(monday_noon) == (datetime(2026, 3, 4, 15, tzinfo=UTC), "r3")
    after_override = datetime(2026, 3, 4, 19, tzinfo=UTC)
    # The next handover is Monday 09:00 Chicago wall time, after the daylight-saving change (CDT).
    when, who = roster.next_change(after_override)
    assert (when.astimezone(UTC), who) == (datetime(2026, 3, 9, 14, tzinfo=UTC), "r2")


def test_a_person_no_longer_on_the_staff_is_not_notified_even_where_a_level_names_them() -> None:
    level = Level(responder_ids=("gone", "r2"), roster_id="main")
    roster = Roster(id="main", time_zone="UTC", responder_ids=("gone",), rotation_start=datetime(2026, 1, 5))
    reach = Reach(staff={"r2": frozenset({"responder"})}, rosters={"main": roster})
    assert level_targets(level, reach, MONDAY) == ["r2"]


def test_the_last_person_the_catch_all_reaches_cannot_be_deactivated() -> None:
    reach = Reach(staff={"r1": frozenset({"responder"}), "c1": frozenset({"coordinator"})}, rosters={})
    protocol = Protocol(levels=(Level(responder_ids=("r1",)),), catch_all="coordinator")
    check_deactivation(protocol, reach, "r1")  # a level naming them is skipped; the catch-all remains
    with pytest.raises(NobodyToReach, match="catch-all"):
        check_deactivation(protocol, reach, "c1")


def test_a_cancelled_case_takes_no_safety_plan() -> None:
    case = open_case()
    cancel(case, by="m1", reason="raised_by_mistake", now=MONDAY)
    with pytest.raises(InvalidTransition):
        update_safety_plan(case, sealed="<sealed>", by="r1", now=MONDAY)
