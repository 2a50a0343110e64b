"""The catalogue: who hears what about each event, and every message renders in every language."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.routing import Match

from contracts.crisis import (
    CrisisEscalated,
    CrisisEscalatedData,
    CrisisFollowUpScheduled,
    CrisisFollowUpScheduledData,
)
from contracts.envelope import Event
from contracts.meetings import (
    MeetingCancelled,
    MeetingCancelledData,
    MeetingChanged,
    MeetingChangedData,
    OccurrenceCancelled,
    OccurrenceCancelledData,
)
from contracts.mentoring import MatchProposed, MatchProposedData
from services.crisis.api import router as crisis_router
from services.crisis.console import router as console_router
from services.meetings.pages.api import router as pages_router
from services.mentoring.main import create_app as mentoring_app
from services.mentoring.settings import Settings as MentoringSettings
from services.notifications import catalogue
from services.notifications.inbox import router as inbox_router
from services.notifications.model import LANGUAGES
from services.notifications.templates import TemplateError, render
from shared.auth.devkeys import ensure_keypair
from tests.services.notifications.test_mentoring_messages import EXAMPLES as MENTORING_EXAMPLES

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def escalation(**data: object) -> CrisisEscalated:
    fields = {
        "case_id": "c1",
        "level": 2,
        "severity": "imminent",
        "responder_ids": ["r1", "r2", "r1"],
        **data,
    }
    return CrisisEscalated.create(
        source="crisis", org="org-b", subject="c1", data=CrisisEscalatedData.model_validate(fields)
    )


def follow_up() -> CrisisFollowUpScheduled:
    data = CrisisFollowUpScheduledData(case_id="c1", responder_id="r1", member_id="m1", due_by=NOW)
    return CrisisFollowUpScheduled.create(source="crisis", org="org-b", subject="c1", data=data)


def match() -> MatchProposed:
    data = MatchProposedData(
        match_id="x1", request_id="q1", mentor_id="mentor", member_id="member", score=0.8
    )
    return MatchProposed.create(source="mentoring", org="org-b", subject="x1", data=data)


MEETING = {
    "meeting_id": "m1", "slug": "tuesday-hope", "name": "Tuesday <Hope>", "timezone": "America/Chicago",
    "attendance_option": "in_person", "saved_by": ["s1", "s2", "s1"],
}  # fmt: skip


def meeting_changes() -> list[Event]:
    def made(event: type[Event], data: object) -> Event:
        return event.create(source="meetings", org="org-b", subject="m1", data=data)

    return [
        made(MeetingChanged, MeetingChangedData(**MEETING, changed=["time"])),  # type: ignore[arg-type]
        made(MeetingCancelled, MeetingCancelledData(**MEETING)),  # type: ignore[arg-type]
        made(OccurrenceCancelled, OccurrenceCancelledData(**MEETING, occurrence=NOW.date(), starts_at=NOW)),  # type: ignore[arg-type]
    ]


EXAMPLES: list[Event] = [
    escalation(),
    escalation(catch_all="regional_team", region="lakeshore"),
    follow_up(),
    match(),
    *meeting_changes(),
    *MENTORING_EXAMPLES,
]


def test_every_responder_of_the_level_hears_once_critically() -> None:
    messages = catalogue.messages(escalation())
    assert [m.recipient_id for m in messages] == ["r1", "r2"]
    assert {(m.category, m.priority, m.template, m.team_region) for m in messages} == {
        ("crisis", "critical", "crisis_escalated", None)
    }


def test_the_regional_teams_escalation_is_addressed_to_its_region() -> None:
    (message,) = catalogue.messages(
        escalation(responder_ids=["r9"], catch_all="regional_team", region="lakeshore")
    )
    assert message.team_region == "lakeshore"
    (own,) = catalogue.messages(escalation(responder_ids=["r9"], region="lakeshore"))
    assert own.team_region is None  # a level of the organization's own ladder: its own staff


def test_the_caring_contact_goes_to_the_responder_who_resolved_and_a_match_to_both_sides() -> None:
    assert [(m.recipient_id, m.priority) for m in catalogue.messages(follow_up())] == [("r1", "high")]
    assert [(m.recipient_id, m.template, m.link) for m in catalogue.messages(match())] == [
        ("mentor", "match_proposed_mentor", "/mentoring/pages/mentor#match-x1"),
        ("member", "match_proposed_member", "/mentoring/pages/me"),
    ]


def test_the_members_who_saved_a_meeting_hear_of_its_changes_once_each() -> None:
    for event in meeting_changes():
        messages = catalogue.messages(event)
        assert [(m.recipient_id, m.category) for m in messages] == [("s1", "meetings"), ("s2", "meetings")]
        assert {m.link for m in messages} == {"/find/tuesday-hope"}


def test_a_message_carries_no_personal_data_in_its_template_variables() -> None:
    for event in EXAMPLES:
        for message in catalogue.messages(event):
            assert "member_id" not in message.context  # a crisis case's person is never named


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_every_catalogue_message_renders_in_every_language(event: Event, language: str) -> None:
    for message in catalogue.messages(event):
        rendered = render(
            message.template, language, {**message.context, "url": "https://x.test" + message.link}
        )  # type: ignore[arg-type]
        assert rendered.subject and "\n" not in rendered.subject
        assert "https://x.test" + message.link in rendered.text
        assert 'href="https://x.test' in rendered.html


def test_the_digest_renders_in_every_language() -> None:
    items = [{"title": "Meeting moved", "url": "https://x.test/meetings/1", "created_at": NOW}]
    for language in LANGUAGES:
        rendered = render(
            catalogue.DIGEST_TEMPLATE, language, {"items": items, "url": ""}, zone="Europe/Madrid"
        )  # type: ignore[arg-type]
        assert "Meeting moved" in rendered.text and "13:00 CET" in rendered.text


def test_html_is_escaped_and_plain_text_is_not() -> None:
    context = {
        "case_id": "<script>x</script>",
        "level": 1,
        "severity": "high",
        "catch_all": None,
        "url": "/a?b=1&c=2",
    }
    rendered = render("crisis_escalated", "en", context)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "/a?b=1&amp;c=2" in rendered.html
    assert "/a?b=1&c=2" in rendered.text


def test_a_missing_variable_or_template_is_an_error_not_a_blank() -> None:
    with pytest.raises(TemplateError, match="level"):
        render("crisis_escalated", "en", {"case_id": "c", "severity": "high", "catch_all": None, "url": "/"})
    with pytest.raises(TemplateError):
        render("no_such_message", "en", {})


def test_links_point_at_routes_that_exist(tmp_path: Path) -> None:
    # The mentoring service's whole app: its pages may come from a subpackage's router, which the app
    # holds as an included router that only answers by matching.
    _, public_key = ensure_keypair(tmp_path)
    mentoring = mentoring_app(MentoringSettings(jwt_public_key_file=public_key))
    routes = [
        *(r for router in (crisis_router, console_router, pages_router, inbox_router) for r in router.routes),
        *mentoring.routes,
    ]
    for event in EXAMPLES:
        for message in catalogue.messages(event):
            path = message.link.split("#")[0].split("?")[0]
            scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
            assert any(route.matches(scope)[0] != Match.NONE for route in routes), message.link
