from datetime import UTC, datetime, timedelta

import pytest

from contracts.crisis import CrisisEscalated, CrisisRaised
from services.crisis.model import Level, NobodyToReach, Protocol, Roster, check_protocol, raise_case

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ROSTER = Roster(id="oncall", responder_ids=("r1", "r2"), rotation_start=MONDAY)


def test_the_roster_rotates_weekly_in_order() -> None:
    assert ROSTER.on_call(MONDAY) == "r1"
    assert ROSTER.on_call(MONDAY + timedelta(days=6, hours=23)) == "r1"
    assert ROSTER.on_call(MONDAY + timedelta(days=7)) == "r2"
    assert ROSTER.on_call(MONDAY + timedelta(days=14)) == "r1"


def test_raising_a_case_escalates_level_one_to_the_on_call_responder() -> None:
    protocol = Protocol(levels=(Level(roster_id="oncall"), Level(responder_ids=("coordinator",))))
    case, events = raise_case(
        org="org-a",
        member_id="m1",
        severity="high",
        protocol=protocol,
        rosters={"oncall": ROSTER},
        now=MONDAY,
    )
    raised, escalated = events
    assert isinstance(raised, CrisisRaised) and raised.data.case_id == case.id
    assert isinstance(escalated, CrisisEscalated)
    assert (escalated.data.level, escalated.data.responder_ids) == (1, ["r1"])
    assert (case.state, case.level, case.notified) == ("triggered", 1, ["r1"])
    assert [e["what"] for e in case.timeline] == ["raised", "escalated"]


def test_an_empty_roster_slot_falls_through_to_the_next_level() -> None:
    empty = Roster(id="oncall", responder_ids=(), rotation_start=MONDAY)
    protocol = Protocol(levels=(Level(roster_id="oncall"), Level(responder_ids=("coordinator",))))
    case, events = raise_case(
        org="org-a", member_id="m1", severity="high", protocol=protocol, rosters={"oncall": empty}, now=MONDAY
    )
    assert isinstance(events[-1], CrisisEscalated)
    assert (events[-1].data.level, events[-1].data.responder_ids) == (2, ["coordinator"])
    assert [e["what"] for e in case.timeline] == ["raised", "level_skipped", "escalated"]


def test_without_a_protocol_the_case_is_still_recorded_and_says_nobody_was_reached() -> None:
    case, events = raise_case(
        org="org-a", member_id="m1", severity="imminent", protocol=None, rosters={}, now=MONDAY
    )
    assert [type(e) for e in events] == [CrisisRaised]
    assert case.timeline[-1]["what"] == "no_responder_reachable"


def test_a_protocol_that_could_reach_nobody_is_refused() -> None:
    with pytest.raises(NobodyToReach):
        check_protocol(Protocol(levels=()), {})
    with pytest.raises(NobodyToReach, match="level 1 has no responders"):
        check_protocol(Protocol(levels=(Level(),)), {})
    with pytest.raises(NobodyToReach, match="does not exist"):
        check_protocol(Protocol(levels=(Level(roster_id="missing"),)), {})
    check_protocol(Protocol(levels=(Level(roster_id="oncall"),)), {"oncall": ROSTER})
