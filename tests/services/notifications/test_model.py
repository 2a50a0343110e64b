from datetime import UTC, datetime

from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from contracts.mentoring import MatchProposed, MatchProposedData
from services.notifications.model import delivered, for_escalation, for_match, team_regions
from shared.auth.principal import Principal, Role

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


def escalation(**data: object) -> CrisisEscalated:
    fields = {"case_id": "c1", "level": 2, "severity": "high", "responder_ids": ["r1"], **data}
    return CrisisEscalated.create(
        source="crisis", org="org-b", subject="c1", data=CrisisEscalatedData.model_validate(fields)
    )


def test_an_escalation_to_the_regional_team_is_marked_with_its_region() -> None:
    (note,) = for_escalation(escalation(catch_all="regional_team", region="lakeshore"), NOW)
    assert (note.org, note.team_region) == ("org-b", "lakeshore")


def test_other_escalations_stay_inside_the_organization_even_when_it_has_a_region() -> None:
    for data in ({"region": "lakeshore"}, {"catch_all": "coordinator", "region": "lakeshore"}, {}):
        (note,) = for_escalation(escalation(**data), NOW)
        assert (note.org, note.team_region) == ("org-b", None), data


def test_only_a_regional_responder_reads_the_team_notifications_of_their_regions() -> None:
    regions = frozenset({"lakeshore"})

    def caller(*roles: Role) -> Principal:
        return Principal(sub="p", org="org-a", roles=frozenset(roles), regions=regions)

    assert team_regions(caller(Role.REGIONAL_RESPONDER)) == regions
    assert team_regions(caller(Role.RESPONDER, Role.REGIONAL_RESPONDER)) == regions
    for roles in ((Role.RESPONDER,), (Role.NETWORK_ADMIN,), (Role.ORG_ADMIN, Role.COORDINATOR)):
        assert team_regions(caller(*roles)) == frozenset(), roles
    assert team_regions(Principal(sub="p", org="org-a", roles=frozenset({Role.REGIONAL_RESPONDER}))) == set()


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
