"""Check-in event handlers: meetings' MemberDisengaged tells the member's mentor.

MatchAccepted and MatchEnded start and stop a pair's rhythm too, but mentoring already has one
durable consumer for each (services/mentoring/subscribers.py): a second handler on the same durable
would take half of the messages. So that handler calls `service.on_match_accepted` and
`service.on_match_ended` as well (both idempotent), and only MemberDisengaged is subscribed here.
"""

from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.meetings import MemberDisengaged
from services.mentoring.checkins import service
from shared.messaging.broker import subscribe
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription
from shared.telemetry import EVENT_ID, ORG, tag_current_span

SERVICE = "mentoring"
DISENGAGED = Subscription(SERVICE, MemberDisengaged)
SUBSCRIPTIONS: tuple[Subscription, ...] = (DISENGAGED,)


def register(broker: NatsBroker, db: AsyncDatabase[dict[str, Any]], publisher: EventPublisher) -> None:
    @subscribe(broker, DISENGAGED)
    async def on_member_disengaged(event: MemberDisengaged) -> None:
        """Tell the member's mentor they are drifting from their meetings (nothing more, nobody else)."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await service.member_disengaged(db, publisher, event)
