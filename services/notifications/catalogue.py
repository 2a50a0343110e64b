"""The catalogue: for each event, who gets which message, in which category and with what priority.

The one place that says what the network tells people. A message's words are in its templates
(templates/<language>/<template>.jinja); its recipients come from the event itself, never from
another service's database. The meetings and mentoring capabilities add their entries here.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled
from contracts.envelope import Event
from contracts.meetings import MeetingCancelled, MeetingChanged, OccurrenceCancelled
from contracts.mentoring import (
    CheckInOverdue,
    MatchAccepted,
    MatchDeclined,
    MatchEnded,
    MatchExpired,
    MatchProposed,
    MatchWithdrawn,
    MenteeDrifting,
    MilestoneReached,
)
from contracts.notifications import Priority
from services.notifications.model import LANGUAGES, Category, Language


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


def _from_elsewhere(e: CrisisFollowUpScheduled) -> str | None:
    # A regional team member from another organization reads it in their inbox through the region.
    return e.data.region if e.data.responder_org else None


MEMBER_VIEW = "/mentoring/pages/me"
MENTOR_VIEW = "/mentoring/pages/mentor"
INBOX = "/notifications/inbox"


def _mentor_view(e: MatchProposed | MatchAccepted | CheckInOverdue | MenteeDrifting) -> str:
    return f"{MENTOR_VIEW}#match-{e.data.match_id}"


def _milestone_audience(e: MilestoneReached) -> list[str]:
    if e.data.audience == "nobody":
        return []
    return [r for r in e.data.recipient_ids if r != e.data.member_id]


_UNITS: dict[Language, dict[str, tuple[str, str]]] = {
    "en": {"h": ("hour", "hours"), "d": ("day", "days"), "m": ("month", "months"), "y": ("year", "years")},
    "es": {"h": ("hora", "horas"), "d": ("día", "días"), "m": ("mes", "meses"), "y": ("año", "años")},
}


def milestone_words(code: str, language: Language) -> str:
    """A milestone code ("24h", "30d", "6m", "1y", "18m", "2y") as words: "30 days", "1 año"."""
    match = re.fullmatch(r"([0-9]+)([hdmy])", code)
    if match is None:
        raise ValueError(f"not a milestone code: {code!r}")
    count, unit = int(match[1]), match[2]
    one, many = _UNITS[language][unit]
    return f"{count} {one if count == 1 else many}"


def _milestone_in_every_language(code: str) -> dict[str, str]:
    # Words, not a code, in the template; computed here because a template has no Python of its own.
    return {language: milestone_words(code, language) for language in LANGUAGES}


ESCALATION_TEMPLATE = "crisis_escalated"

CATALOGUE: tuple[Entry, ...] = (
    Entry(
        event=CrisisEscalated,
        template=ESCALATION_TEMPLATE,
        category="crisis",
        priority="critical",
        recipients=lambda e: e.data.responder_ids,
        link=lambda e: f"/crisis/console#case-{e.data.case_id}",
        context=lambda e: {
            "case_id": e.data.case_id,
            "level": e.data.level,
            "severity": e.data.severity,
            "catch_all": e.data.catch_all,
            "alert_at": e.data.alert_at.isoformat() if e.data.alert_at else None,
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
        team_region=_from_elsewhere,
    ),
    # Mentoring. A message names nobody: a mentor has several mentees, so the link's fragment points
    # the mentor's page at the match, and the page (which checks who asks) says who it is.
    Entry(
        event=MatchProposed,
        template="match_proposed_mentor",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.mentor_id],
        link=_mentor_view,
        context=lambda e: {"match_id": e.data.match_id, "expires_at": e.data.expires_at},
    ),
    Entry(
        event=MatchProposed,
        template="match_proposed_member",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.member_id],
        link=lambda _e: MEMBER_VIEW,
        context=lambda e: {"match_id": e.data.match_id},
    ),
    Entry(
        event=MatchAccepted,
        template="match_accepted_member",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.member_id],
        link=lambda _e: MEMBER_VIEW,
        context=lambda e: {"match_id": e.data.match_id},
    ),
    Entry(
        event=MatchAccepted,
        template="match_accepted_mentor",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.mentor_id],
        link=_mentor_view,
        context=lambda e: {"match_id": e.data.match_id},
    ),
    # A declined and an expired proposal read the same to the member: who said no, and whether they
    # said it or let it lapse, is the mentor's business.
    Entry(
        event=MatchDeclined,
        template="match_searching_member",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.member_id],
        link=lambda _e: MEMBER_VIEW,
        context=lambda e: {"match_id": e.data.match_id},
    ),
    Entry(
        event=MatchExpired,
        template="match_searching_member",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.member_id],
        link=lambda _e: MEMBER_VIEW,
        context=lambda e: {"match_id": e.data.match_id},
    ),
    Entry(
        event=MatchExpired,
        template="match_expired_mentor",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.mentor_id],
        link=lambda _e: MENTOR_VIEW,
        context=lambda e: {"match_id": e.data.match_id},
    ),
    Entry(
        event=MatchWithdrawn,
        template="match_withdrawn_mentor",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.mentor_id],
        link=lambda _e: MENTOR_VIEW,
        context=lambda e: {"match_id": e.data.match_id},
    ),
    # The reason is a code from a fixed list, never words someone typed: both sides may read it.
    Entry(
        event=MatchEnded,
        template="match_ended_member",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.member_id],
        link=lambda _e: MEMBER_VIEW,
        context=lambda e: {
            "match_id": e.data.match_id,
            "ended_by": e.data.ended_by,
            "reason": e.data.reason,
            "back_to_waiting": e.data.back_to_waiting,
        },
    ),
    Entry(
        event=MatchEnded,
        template="match_ended_mentor",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.mentor_id],
        link=lambda _e: MENTOR_VIEW,
        context=lambda e: {"match_id": e.data.match_id, "ended_by": e.data.ended_by, "reason": e.data.reason},
    ),
    # The member is nudged first; only if that does not help does the mentor hear, and then it matters.
    Entry(
        event=CheckInOverdue,
        template="check_in_due_member",
        category="mentoring",
        priority="normal",
        recipients=lambda e: [e.data.member_id] if e.data.nudge == "member" else [],
        link=lambda _e: MEMBER_VIEW,
        context=lambda e: {"match_id": e.data.match_id, "due_at": e.data.due_at},
    ),
    Entry(
        event=CheckInOverdue,
        template="check_in_overdue_mentor",
        category="mentoring",
        priority="high",
        recipients=lambda e: [e.data.mentor_id] if e.data.nudge == "mentor" else [],
        link=_mentor_view,
        context=lambda e: {"match_id": e.data.match_id, "due_at": e.data.due_at},
    ),
    Entry(
        event=MenteeDrifting,
        template="mentee_drifting",
        category="mentoring",
        priority="high",
        recipients=lambda e: [e.data.mentor_id],
        link=_mentor_view,
        context=lambda e: {"match_id": e.data.match_id, "signal": e.data.signal},
    ),
    Entry(
        event=MilestoneReached,
        template="milestone_reached_member",
        category="milestones",
        priority="normal",
        recipients=lambda e: [e.data.member_id],
        link=lambda _e: MEMBER_VIEW,
        context=lambda e: {"milestone": _milestone_in_every_language(e.data.milestone)},
    ),
    # The people the member chose hear that someone they know reached a milestone, and nothing more:
    # no id, no name, no date. Low: a digest is the right place for good news that is not theirs.
    Entry(
        event=MilestoneReached,
        template="milestone_reached_shared",
        category="milestones",
        priority="low",
        recipients=_milestone_audience,
        link=lambda e: MENTOR_VIEW if e.data.audience == "mentor" else INBOX,
        context=lambda e: {
            "milestone": _milestone_in_every_language(e.data.milestone),
            "audience": e.data.audience,
        },
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


def escalated_case(template: str, context: Mapping[str, Any]) -> tuple[str, datetime | None] | None:
    """The crisis case a message escalates and when its person reached out (None for any other
    message): the dashboards time each case's first escalation delivered from the alert."""
    if template != ESCALATION_TEMPLATE:
        return None
    alert_at = context.get("alert_at")  # escalations published before it was in the event have none
    return str(context["case_id"]), datetime.fromisoformat(alert_at) if alert_at else None


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
