"""What a notification says and who gets it, for each event that causes one. No I/O."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled
from contracts.envelope import Event
from contracts.mentoring import MatchProposed
from contracts.notifications import NotificationDelivered, NotificationDeliveredData
from shared.auth.principal import Principal, Role

SOURCE = "notifications"


@dataclass(frozen=True)
class Notification:
    id: str
    org: str
    recipient_id: str
    category: str
    priority: str  # "critical" bypasses preferences and quiet hours
    title: str
    body: str
    link: str
    cause_event_id: str
    created_at: datetime
    # Set when addressed to a member of this region's crisis team: they read it whatever organization
    # they belong to, as they read the case it is about (crisis lets them in by the case's region).
    team_region: str | None = None


def notification_id(cause_event_id: str, recipient_id: str) -> str:
    """The same for every delivery of the cause: a redelivered event finds its notification by id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rn:notification:{cause_event_id}:{recipient_id}"))


def for_escalation(event: CrisisEscalated, now: datetime) -> list[Notification]:
    d = event.data
    team_region = d.region if d.catch_all == "regional_team" else None
    return [
        Notification(
            id=notification_id(event.id, responder),
            org=event.org,
            recipient_id=responder,
            category="crisis",
            priority="critical",
            title=f"Crisis escalation, level {d.level}",
            body=f"A {d.severity} crisis case needs a responder now. Open the case and acknowledge it.",
            link=f"/crisis/cases/{d.case_id}",
            cause_event_id=event.id,
            created_at=now,
            team_region=team_region,
        )
        for responder in d.responder_ids
    ]


def team_regions(caller: Principal) -> frozenset[str]:
    """The regions whose crisis-team notifications the caller reads besides their organization's own."""
    return caller.regions if caller.has_any(Role.REGIONAL_RESPONDER) else frozenset()


def for_follow_up(event: CrisisFollowUpScheduled, now: datetime) -> list[Notification]:
    """The caring contact after a crisis closes goes to the responder who resolved it."""
    d = event.data
    return [
        Notification(
            id=notification_id(event.id, d.responder_id),
            org=event.org,
            recipient_id=d.responder_id,
            category="crisis",
            priority="high",
            title="Caring contact due",
            body=f"Reach out to the person from the case you resolved, by {d.due_by:%Y-%m-%d %H:%M} UTC.",
            link=f"/crisis/cases/{d.case_id}",
            cause_event_id=event.id,
            created_at=now,
        )
    ]


def for_match(event: MatchProposed, now: datetime) -> list[Notification]:
    d = event.data
    common = {"org": event.org, "category": "mentoring", "priority": "normal", "cause_event_id": event.id}
    return [
        Notification(
            id=notification_id(event.id, d.mentor_id),
            recipient_id=d.mentor_id,
            title="New mentee proposed",
            body="A member was matched with you. Review the proposal.",
            link=f"/mentoring/matches/{d.match_id}",
            created_at=now,
            **common,
        ),
        Notification(
            id=notification_id(event.id, d.member_id),
            recipient_id=d.member_id,
            title="We found you a mentor",
            body="A mentor was proposed for you. They will reach out soon.",
            link=f"/mentoring/matches/{d.match_id}",
            created_at=now,
            **common,
        ),
    ]


def delivered(n: Notification) -> Event:
    return NotificationDelivered.create(
        source=SOURCE,
        org=n.org,
        subject=n.id,
        data=NotificationDeliveredData(
            notification_id=n.id,
            recipient_id=n.recipient_id,
            channel="in_app",
            category=n.category,
            cause_event_id=n.cause_event_id,
        ),
    )
