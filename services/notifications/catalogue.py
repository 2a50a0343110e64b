"""The catalogue: for each event, who gets which message, in which category and with what priority.

The one place that says what the network tells people. A message's words are in its templates
(templates/<language>/<template>.jinja); its recipients come from the event itself, never from
another service's database. The meetings and mentoring capabilities add their entries here.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled
from contracts.envelope import Event
from contracts.meetings import MeetingCancelled, MeetingChanged, OccurrenceCancelled
from contracts.mentoring import MatchProposed
from contracts.notifications import Priority
from services.notifications.model import Category


@dataclass(frozen=True)
class Message:
    """One catalogue message for one recipient, before it is rendered in their language."""

    template: str
    category: Category
    priority: Priority
    recipient_id: str
    link: str
    context: dict[str, Any]
    team_region: str | None = None


@dataclass(frozen=True)
class Entry:
    event: type[Event]
    template: str
    category: Category
    priority: Priority
    recipients: Callable[[Any], Iterable[str]]
    link: Callable[[Any], str]
    # Template variables: ids, levels, times. Never a name, a note or anything a person wrote.
    context: Callable[[Any], dict[str, Any]]
    team_region: Callable[[Any], str | None] = lambda _event: None


def _regional_team(e: CrisisEscalated) -> str | None:
    return e.data.region if e.data.catch_all == "regional_team" else None


CATALOGUE: tuple[Entry, ...] = (
    Entry(
        event=CrisisEscalated,
        template="crisis_escalated",
        category="crisis",
        priority="critical",
        recipients=lambda e: e.data.responder_ids,
        link=lambda e: f"/crisis/console#case-{e.data.case_id}",
        context=lambda e: {
            "case_id": e.data.case_id,
            "level": e.data.level,
            "severity": e.data.severity,
            "catch_all": e.data.catch_all,
        },
        team_region=_regional_team,
    ),
    Entry(
        event=CrisisFollowUpScheduled,
        template="crisis_follow_up_due",
        category="crisis",
        priority="high",
        recipients=lambda e: [e.data.responder_id],
        link=lambda e: f"/crisis/console#case-{e.data.case_id}",
        context=lambda e: {"case_id": e.data.case_id, "due_by": e.data.due_by},
    ),
    Entry(
        event=MatchProposed,
        template="match_proposed_mentor",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.mentor_id],
        link=lambda e: f"/mentoring/requests/{e.data.request_id}",
        context=lambda e: {"match_id": e.data.match_id},
    ),
    Entry(
        event=MatchProposed,
        template="match_proposed_member",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.member_id],
        link=lambda e: f"/mentoring/requests/{e.data.request_id}",
        context=lambda e: {"match_id": e.data.match_id},
    ),
    # A meeting's name is public (the directory lists it), not personal data: messages may say it.
    Entry(
        event=MeetingChanged,
        template="meeting_changed",
        category="meetings",
        priority="normal",
        recipients=lambda e: e.data.saved_by,
        link=lambda e: f"/find/{e.data.slug}",
        context=lambda e: {"meeting": e.data.name, "changed": e.data.changed},
    ),
    Entry(
        event=MeetingCancelled,
        template="meeting_cancelled",
        category="meetings",
        priority="high",
        recipients=lambda e: e.data.saved_by,
        link=lambda e: f"/find/{e.data.slug}",
        context=lambda e: {"meeting": e.data.name},
    ),
    Entry(
        event=OccurrenceCancelled,
        template="occurrence_cancelled",
        category="meetings",
        priority="high",
        recipients=lambda e: e.data.saved_by,
        link=lambda e: f"/find/{e.data.slug}",
        context=lambda e: {"meeting": e.data.name, "starts_at": e.data.starts_at},
    ),
)

# Not caused by one event: the daily digest of a person's low-priority messages.
DIGEST_TEMPLATE = "digest"


def messages(event: Event) -> list[Message]:
    """Every message an event causes, one per entry and recipient (a recipient named twice hears once)."""
    out: list[Message] = []
    for entry in CATALOGUE:
        if not isinstance(event, entry.event):
            continue
        for recipient in dict.fromkeys(entry.recipients(event)):
            out.append(
                Message(
                    template=entry.template,
                    category=entry.category,
                    priority=entry.priority,
                    recipient_id=recipient,
                    link=entry.link(event),
                    context=entry.context(event),
                    team_region=entry.team_region(event),
                )
            )
    return out
