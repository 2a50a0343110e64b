"""Matching and the life of a match, without infrastructure."""

import datetime as dt

import pytest

from contracts.mentoring import (
    MatchAccepted,
    MatchDeclined,
    MatchEnded,
    MatchExpired,
    MatchProposed,
    MatchWithdrawn,
)
from services.mentoring import model
from services.mentoring.model import MentorProfile, Preference, Request, Slots

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def mentor(mentor_id: str = "pat", **fields: object) -> MentorProfile:
    return MentorProfile(mentor_id=mentor_id, org="org-a", capacity=fields.pop("capacity", 2), **fields)  # type: ignore[arg-type]


def request(**fields: object) -> Request:
    return Request(id="r1", org="org-a", member_id="sam", **fields)  # type: ignore[arg-type]


def test_a_mentor_who_speaks_none_of_the_members_languages_is_never_a_candidate() -> None:
    spanish = request(languages=frozenset({"es"}))
    assert not model.feasible(mentor(languages=frozenset({"en"})), spanish)
    assert model.feasible(mentor(languages=frozenset({"en", "es"})), spanish)


def test_each_hard_constraint_is_checked_and_named() -> None:
    wants = request(
        mentor_genders=frozenset({"female"}),
        pathways=frozenset({"smart_recovery", "secular"}),
        mode="in_person",
        region="north",
        age=19,
    )
    fits = mentor(
        gender="female", pathways=frozenset({"secular"}), in_person=True, region="north", age_min=18
    )
    assert model.feasible(fits, wants)
    for misfit, failed in (
        (mentor(gender="male", pathways=frozenset({"secular"}), in_person=True, region="north"), "gender"),
        (mentor(gender="female", pathways=frozenset({"12_step"}), in_person=True, region="north"), "pathway"),
        (mentor(gender="female", pathways=frozenset({"secular"}), in_person=True, region="south"), "mode"),
        (mentor(gender="female", pathways=frozenset({"secular"}), online=True, region="north"), "mode"),
        (
            mentor(
                gender="female", pathways=frozenset({"secular"}), in_person=True, region="north", age_min=25
            ),
            "age",
        ),
        (
            mentor("sam", gender="female", pathways=frozenset({"secular"}), in_person=True, region="north"),
            "not_themself",
        ),
    ):
        assert [c.constraint for c in model.checks(misfit, wants) if not c.held] == [failed]


def test_a_paused_mentor_or_one_who_declined_before_is_not_proposed() -> None:
    assert not model.feasible(mentor(paused=True), request())
    assert not model.feasible(mentor(), request(excluded=frozenset({"pat"})))
    assert model.ranked([mentor(paused=True)], request()) == []


def test_online_members_are_matched_with_mentors_who_meet_online_wherever_they_live() -> None:
    assert model.feasible(mentor(region="south", online=True), request(mode="online", region="north"))
    assert not model.feasible(mentor(online=False, in_person=True, region="north"), request(mode="online"))


def test_preferences_earn_their_share_of_100_points_by_weight_and_the_explanation_says_which() -> None:
    prefs = (
        Preference("pathway", "smart_recovery", 3),
        Preference("lived_experience", "opioids", 1),
        Preference("availability", "2:evening", 1),
    )
    m = mentor(
        pathways=frozenset({"smart_recovery"}), availability=frozenset({"2:evening"}), capacity=4, load=1
    )
    e = model.explain(m, request(preferences=prefs))
    assert [(line.kind, line.held, line.points) for line in e.preferences] == [
        ("pathway", True, 60),
        ("lived_experience", False, 0),
        ("availability", True, 20),
    ]
    assert e.load_points == 7  # 3 of 4 slots free
    assert e.score == 87 == model.score(m, request(preferences=prefs))
    assert e.feasible and all(c.held for c in e.checks)


def test_without_preferences_the_mentor_with_more_room_comes_first() -> None:
    busy, free = mentor("a", capacity=4, load=3), mentor("b", capacity=4, load=0)
    assert [m.mentor_id for _, m in model.ranked([busy, free], request())] == ["b", "a"]


def test_load_points_fall_as_a_mentor_fills_so_spreading_members_scores_more() -> None:
    assert [model.load_points(5, load) for load in range(6)] == [10, 8, 6, 4, 2, 0]
    assert model.load_points(1, 0) == 10


def test_ranking_breaks_ties_by_mentor_id_and_skips_full_mentors() -> None:
    full = mentor("a", capacity=1, load=1)
    ranked = model.ranked([mentor("c"), mentor("b"), full], request())
    assert [m.mentor_id for _, m in ranked] == ["b", "c"]


def propose(slots: Slots, member: str = "sam", match_id: str = "m1") -> Slots:
    return model.propose(slots, Request(id=f"r-{member}", org="org-a", member_id=member), match_id, NOW, DAY)


def test_a_proposal_takes_a_slot_and_announces_itself_with_its_expiry() -> None:
    slots = propose(Slots(mentor(capacity=1)))
    assert slots.profile.load == 1 and slots.profile.free_slots == 0
    (event,) = slots.events
    assert isinstance(event, MatchProposed)
    assert (event.data.mentor_id, event.data.member_id, event.data.expires_at) == ("pat", "sam", NOW + DAY)
    with pytest.raises(model.MatchConflict):
        propose(slots, member="kim", match_id="m2")  # no slot left


def test_a_mentor_holds_one_slot_per_member() -> None:
    with pytest.raises(model.MatchConflict):
        propose(propose(Slots(mentor(capacity=3))), match_id="m2")


def test_accepting_makes_the_match_active_and_an_answer_counts_once() -> None:
    slots = model.accept(propose(Slots(mentor())), "m1", NOW + dt.timedelta(hours=1))
    held = slots.find("m1")
    assert held is not None and held.status == "active" and held.expires_at is None
    assert isinstance(slots.events[-1], MatchAccepted)
    with pytest.raises(model.MatchConflict):
        model.accept(slots, "m1", NOW)
    with pytest.raises(model.MatchConflict):
        model.decline(slots, "m1", NOW)


def test_a_proposal_cannot_be_accepted_after_it_expired() -> None:
    with pytest.raises(model.MatchConflict, match="expired"):
        model.accept(propose(Slots(mentor())), "m1", NOW + DAY)


def test_withdrawing_a_proposal_frees_the_slot_and_says_so_with_the_time_given() -> None:
    slots = model.withdraw(propose(Slots(mentor(capacity=1))), "m1", NOW + DAY / 2)
    assert slots.held == () and isinstance(slots.events[-1], MatchWithdrawn)
    assert slots.events[-1].time == NOW + DAY / 2
    with pytest.raises(model.MatchConflict):
        model.withdraw(model.accept(propose(Slots(mentor())), "m1", NOW), "m1", NOW)


def test_declining_frees_the_slot() -> None:
    slots = model.decline(propose(Slots(mentor(capacity=1))), "m1", NOW)
    assert slots.held == () and slots.profile.free_slots == 1
    assert isinstance(slots.events[-1], MatchDeclined)


def test_expiry_frees_the_slot_only_once_due_and_only_if_unanswered() -> None:
    proposed = propose(Slots(mentor()))
    assert model.expire(proposed, "m1", NOW + DAY - dt.timedelta(seconds=1)) is None
    expired = model.expire(proposed, "m1", NOW + DAY)
    assert expired is not None and expired.held == () and isinstance(expired.events[-1], MatchExpired)
    assert model.expire(expired, "m1", NOW + DAY) is None
    accepted = model.accept(proposed, "m1", NOW)
    assert model.expire(accepted, "m1", NOW + 2 * DAY) is None


def test_ending_an_active_match_frees_the_slot_and_says_who_and_why() -> None:
    active = model.accept(propose(Slots(mentor(capacity=1))), "m1", NOW)
    ended = model.end(active, "m1", "member", "goals_met", back_to_waiting=True, now=NOW)
    assert ended.profile.free_slots == 1
    event = ended.events[-1]
    assert isinstance(event, MatchEnded)
    assert (event.data.ended_by, event.data.reason, event.data.back_to_waiting) == (
        "member",
        "goals_met",
        True,
    )
    with pytest.raises(model.MatchConflict):
        model.end(
            propose(Slots(mentor()), match_id="m2"), "m2", "mentor", "other", back_to_waiting=False, now=NOW
        )
