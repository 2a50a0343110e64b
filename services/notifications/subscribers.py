"""Event handlers of the notifications service: each event of the catalogue becomes its messages."""

from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled, CrisisResponderDeactivated
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
from services.notifications import service
from services.notifications.live import Hub
from services.notifications.templates import TemplateError
from shared.messaging.broker import subscribe
from shared.messaging.deadletter import UnusableMessage
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription
from shared.telemetry import CASE_ID, CRISIS_LEVEL, EVENT_ID, ORG, tag_current_span

SERVICE = "notifications"
ESCALATIONS = Subscription(SERVICE, CrisisEscalated)
MATCHES = Subscription(SERVICE, MatchProposed)
FOLLOW_UPS = Subscription(SERVICE, CrisisFollowUpScheduled)
DEACTIVATIONS = Subscription(SERVICE, CrisisResponderDeactivated)
MEETING_CHANGES = Subscription(SERVICE, MeetingChanged)
MEETING_CANCELLATIONS = Subscription(SERVICE, MeetingCancelled)
OCCURRENCE_CANCELLATIONS = Subscription(SERVICE, OccurrenceCancelled)
ACCEPTED_MATCHES = Subscription(SERVICE, MatchAccepted)
DECLINED_MATCHES = Subscription(SERVICE, MatchDeclined)
EXPIRED_MATCHES = Subscription(SERVICE, MatchExpired)
WITHDRAWN_MATCHES = Subscription(SERVICE, MatchWithdrawn)
ENDED_MATCHES = Subscription(SERVICE, MatchEnded)
OVERDUE_CHECK_INS = Subscription(SERVICE, CheckInOverdue)
DRIFTING_MENTEES = Subscription(SERVICE, MenteeDrifting)
MILESTONES = Subscription(SERVICE, MilestoneReached)
SUBSCRIPTIONS = (
    ESCALATIONS, MATCHES, FOLLOW_UPS, MEETING_CHANGES, MEETING_CANCELLATIONS, OCCURRENCE_CANCELLATIONS,
    ACCEPTED_MATCHES, DECLINED_MATCHES, EXPIRED_MATCHES, WITHDRAWN_MATCHES, ENDED_MATCHES, OVERDUE_CHECK_INS,
    DRIFTING_MENTEES, MILESTONES, DEACTIVATIONS,
)  # fmt: skip
# Escalations fan out to several responders and wait on SMTP and the SMS provider: a few side by side.
WORKERS = 8


async def notify(
    db: AsyncDatabase[dict[str, Any]],
    publisher: EventPublisher,
    senders: service.Senders,
    hub: Hub,
    event: Event,
) -> None:
    try:
        await service.handle(db, publisher, senders, hub, event)
    except TemplateError as exc:  # no retry can render it: dead-lettered with the reason, at once
        raise UnusableMessage(str(exc)) from exc


def register(
    broker: NatsBroker,
    db: AsyncDatabase[dict[str, Any]],
    publisher: EventPublisher,
    senders: service.Senders,
    hub: Hub,
) -> None:

    @subscribe(broker, ESCALATIONS, max_workers=WORKERS)
    async def on_crisis_escalated(event: CrisisEscalated) -> None:
        """Every responder of the level hears at once, on every channel they have (critical)."""
        tag_current_span(
            {ORG: event.org, EVENT_ID: event.id, CASE_ID: event.data.case_id, CRISIS_LEVEL: event.data.level}
        )
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, FOLLOW_UPS, max_workers=WORKERS)
    async def on_crisis_follow_up_scheduled(event: CrisisFollowUpScheduled) -> None:
        """The responder who resolved a case is reminded of the caring contact within 24 hours."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id, CASE_ID: event.data.case_id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, DEACTIVATIONS)
    async def on_crisis_responder_deactivated(event: CrisisResponderDeactivated) -> None:
        """Crisis messages still waiting to reach a person taken off the crisis staff are cancelled."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await service.responder_deactivated(
            db, publisher, event.org, event.data.responder_id, event.time, service.utcnow()
        )

    @subscribe(broker, MATCHES, max_workers=WORKERS)
    async def on_match_proposed(event: MatchProposed) -> None:
        """The mentor and the member both hear about a proposed match."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, MEETING_CHANGES)
    async def on_meeting_changed(event: MeetingChanged) -> None:
        """The members who saved a meeting hear that it changed."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, MEETING_CANCELLATIONS)
    async def on_meeting_cancelled(event: MeetingCancelled) -> None:
        """The members who saved a meeting hear that it is cancelled."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, OCCURRENCE_CANCELLATIONS)
    async def on_occurrence_cancelled(event: OccurrenceCancelled) -> None:
        """The members who saved a meeting hear that one of its occurrences is cancelled."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, ACCEPTED_MATCHES)
    async def on_match_accepted(event: MatchAccepted) -> None:
        """The member hears that their mentor accepted; the mentor gets a confirmation."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, DECLINED_MATCHES)
    async def on_match_declined(event: MatchDeclined) -> None:
        """The member hears that another mentor is being looked for (not who declined, nor why)."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, WITHDRAWN_MATCHES)
    async def on_match_withdrawn(event: MatchWithdrawn) -> None:
        """The mentor hears that the member withdrew before they answered."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, EXPIRED_MATCHES)
    async def on_match_expired(event: MatchExpired) -> None:
        """The mentor hears that the proposal expired; the member, that another mentor is looked for."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, ENDED_MATCHES)
    async def on_match_ended(event: MatchEnded) -> None:
        """Both sides of an ended match hear it, whoever ended it."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, OVERDUE_CHECK_INS)
    async def on_check_in_overdue(event: CheckInOverdue) -> None:
        """The member is nudged about a late check-in, and later their mentor."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, DRIFTING_MENTEES)
    async def on_mentee_drifting(event: MenteeDrifting) -> None:
        """A drifting mentee's mentor, and nobody else, hears the signal."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)

    @subscribe(broker, MILESTONES)
    async def on_milestone_reached(event: MilestoneReached) -> None:
        """The member is congratulated; the people they chose hear of it without a name."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await notify(db, publisher, senders, hub, event)
