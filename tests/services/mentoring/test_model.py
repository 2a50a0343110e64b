from contracts.mentoring import MatchProposed
from services.mentoring.model import Mentor, MentorRequest, propose, ranked

REQUEST = MentorRequest(id="req-1", org="org-a", member_id="m1", languages=("es",), focus=("family",))


def test_the_mentor_sharing_language_and_focus_ranks_first() -> None:
    mentors = [
        Mentor("a", "org-a", capacity=3, languages=("es",), focus=("alcohol",)),
        Mentor("b", "org-a", capacity=3, languages=("en", "es"), focus=("family",)),
    ]
    assert [m.mentor_id for _, m in ranked(mentors, REQUEST)] == ["b", "a"]


def test_full_foreign_paused_and_non_speaking_mentors_are_never_proposed() -> None:
    mentors = [
        Mentor("full", "org-a", capacity=1, active_mentees=1, languages=("es",)),
        Mentor("other-org", "org-b", capacity=3, languages=("es",)),
        Mentor("paused", "org-a", capacity=3, languages=("es",), accepting=False),
        Mentor("english-only", "org-a", capacity=3, languages=("en",)),
        Mentor("m1", "org-a", capacity=3, languages=("es",)),  # the member themself
    ]
    assert ranked(mentors, REQUEST) == []


def test_spare_capacity_breaks_a_tie() -> None:
    mentors = [
        Mentor("busy", "org-a", capacity=4, active_mentees=3, languages=("es",), focus=("family",)),
        Mentor("free", "org-a", capacity=4, active_mentees=0, languages=("es",), focus=("family",)),
    ]
    assert ranked(mentors, REQUEST)[0][1].mentor_id == "free"


def test_a_proposal_announces_the_match() -> None:
    mentor = Mentor("b", "org-a", capacity=3, languages=("es",))
    match = propose(mentor, REQUEST, 0.9)
    (event,) = match.events
    assert isinstance(event, MatchProposed)
    assert (event.org, event.data.mentor_id, event.data.member_id, event.data.match_id) == (
        "org-a",
        "b",
        "m1",
        match.id,
    )
