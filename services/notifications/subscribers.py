"""Event handlers of the notifications service: each event of the catalogue becomes its messages."""

from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled
from contracts.envelope import Event
from contracts.meetings import MeetingCancelled, MeetingChanged, OccurrenceCancelled
from contracts.mentoring import MatchProposed
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
MEETING_CHANGES = Subscription(SERVICE, MeetingChanged)
MEETING_CANCELLATIONS = Subscription(SERVICE, MeetingCancelled)
OCCURRENCE_CANCELLATIONS = Subscription(SERVICE, OccurrenceCancelled)
SUBSCRIPTIONS = (
    ESCALATIONS, MATCHES, FOLLOW_UPS, MEETING_CHANGES, MEETING_CANCELLATIONS, OCCURRENCE_CANCELLATIONS,
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
