"""Event handlers of the notifications service."""

from datetime import UTC, datetime
from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled
from contracts.mentoring import MatchProposed
from services.notifications import model, service
from shared.messaging.broker import subscribe
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription
from shared.telemetry import CASE_ID, CRISIS_LEVEL, EVENT_ID, ORG, tag_current_span

SERVICE = "notifications"
ESCALATIONS = Subscription(SERVICE, CrisisEscalated)
MATCHES = Subscription(SERVICE, MatchProposed)
FOLLOW_UPS = Subscription(SERVICE, CrisisFollowUpScheduled)
SUBSCRIPTIONS = (ESCALATIONS, MATCHES, FOLLOW_UPS)


def register(broker: NatsBroker, db: AsyncDatabase[dict[str, Any]], publisher: EventPublisher) -> None:
    @subscribe(broker, ESCALATIONS)
    async def on_crisis_escalated(event: CrisisEscalated) -> None:
        """Every responder of the level gets a critical in-app notification."""
        tag_current_span(
            {ORG: event.org, EVENT_ID: event.id, CASE_ID: event.data.case_id, CRISIS_LEVEL: event.data.level}
        )
        await service.deliver(db, publisher, model.for_escalation(event, datetime.now(UTC)))

    @subscribe(broker, FOLLOW_UPS)
    async def on_crisis_follow_up_scheduled(event: CrisisFollowUpScheduled) -> None:
        """The responder who resolved a case is reminded of the caring contact within 24 hours."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id, CASE_ID: event.data.case_id})
        await service.deliver(db, publisher, model.for_follow_up(event, datetime.now(UTC)))

    @subscribe(broker, MATCHES)
    async def on_match_proposed(event: MatchProposed) -> None:
        """The mentor and the member both hear about a proposed match."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await service.deliver(db, publisher, model.for_match(event, datetime.now(UTC)))
