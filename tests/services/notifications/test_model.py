from datetime import UTC, datetime

from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from contracts.mentoring import MatchProposed, MatchProposedData
from services.notifications.model import delivered, for_escalation, for_match

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_every_responder_of_the_level_gets_a_critical_notification() -> None:
    event = CrisisEscalated.create(
        source="crisis",
        org="org-a",
        subject="c1",
        data=CrisisEscalatedData(case_id="c1", level=2, severity="imminent", responder_ids=["r1", "r2"]),
    )
    notes = for_escalation(event, NOW)
    assert [n.recipient_id for n in notes] == ["r1", "r2"]
    assert {(n.priority, n.category, n.cause_event_id, n.org) for n in notes} == {
        ("critical", "crisis", event.id, "org-a")
    }
    assert all(n.link == "/crisis/cases/c1" for n in notes)


def test_a_match_notifies_the_mentor_and_the_member() -> None:
    event = MatchProposed.create(
        source="mentoring",
        org="org-a",
        subject="x",
        data=MatchProposedData(
            match_id="x", request_id="q", mentor_id="mentor", member_id="member", score=0.8
        ),
    )
    assert [n.recipient_id for n in for_match(event, NOW)] == ["mentor", "member"]


def test_delivery_is_announced_with_ids_only() -> None:
    event = MatchProposed.create(
        source="mentoring",
        org="org-a",
        subject="x",
        data=MatchProposedData(
            match_id="x", request_id="q", mentor_id="mentor", member_id="member", score=0.8
        ),
    )
    note = for_match(event, NOW)[0]
    announced = delivered(note)
    assert announced.data.model_dump() == {
        "notification_id": note.id,
        "recipient_id": "mentor",
        "channel": "in_app",
        "category": "mentoring",
        "cause_event_id": event.id,
    }
