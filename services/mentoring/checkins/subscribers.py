"""Check-in event handlers: mentoring's own MatchAccepted and MatchEnded start and stop a pair's
rhythm, and meetings' MemberDisengaged tells the member's mentor."""

from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.meetings import MemberDisengaged
from contracts.mentoring import MatchAccepted, MatchEnded
from services.mentoring.checkins import service
from services.mentoring.settings import Settings
from shared.messaging.broker import subscribe
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription
from shared.telemetry import EVENT_ID, ORG, tag_current_span

SERVICE = "mentoring"
ACCEPTED = Subscription(SERVICE, MatchAccepted)
ENDED = Subscription(SERVICE, MatchEnded)
DISENGAGED = Subscription(SERVICE, MemberDisengaged)
SUBSCRIPTIONS: tuple[Subscription, ...] = (ACCEPTED, ENDED, DISENGAGED)


def register(
    broker: NatsBroker, db: AsyncDatabase[dict[str, Any]], publisher: EventPublisher, settings: Settings
) -> None:
    @subscribe(broker, ACCEPTED)
    async def on_match_accepted(event: MatchAccepted) -> None:
        """Start the pair's check-ins: weekly until they agree otherwise."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await service.on_match_accepted(db, settings, event)

    @subscribe(broker, ENDED)
    async def on_match_ended(event: MatchEnded) -> None:
        """Stop the pair's check-ins and their nudges."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await service.on_match_ended(db, event)

    @subscribe(broker, DISENGAGED)
    async def on_member_disengaged(event: MemberDisengaged) -> None:
        """Tell the member's mentor they are drifting from their meetings (nothing more, nobody else)."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await service.member_disengaged(db, publisher, event)
