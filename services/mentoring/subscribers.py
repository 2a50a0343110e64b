"""Mentoring event handlers. Mentoring follows its own match events: each step a mentor's document
took (accepted, declined, expired, withdrawn, ended) is settled on the member's document again here, so a
writer that died between the two writes loses nothing (service.settle is idempotent)."""

from faststream.nats import NatsBroker

from contracts.mentoring import MatchAccepted, MatchDeclined, MatchEnded, MatchExpired, MatchWithdrawn
from services.mentoring import service
from services.mentoring.checkins import service as checkins
from services.mentoring.checkins import subscribers as checkins_subscribers
from services.mentoring.roster import Roster
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared.messaging.broker import subscribe
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription
from shared.telemetry import EVENT_ID, ORG, tag_current_span

SERVICE = "mentoring"
ACCEPTED = Subscription(SERVICE, MatchAccepted)
DECLINED = Subscription(SERVICE, MatchDeclined)
EXPIRED = Subscription(SERVICE, MatchExpired)
WITHDRAWN = Subscription(SERVICE, MatchWithdrawn)
ENDED = Subscription(SERVICE, MatchEnded)
SUBSCRIPTIONS: tuple[Subscription, ...] = (
    ACCEPTED,
    DECLINED,
    EXPIRED,
    WITHDRAWN,
    ENDED,
    *checkins_subscribers.SUBSCRIPTIONS,
)


def register(
    broker: NatsBroker, db: Db, publisher: EventPublisher, settings: Settings, roster: Roster
) -> None:
    checkins_subscribers.register(broker, db, publisher)

    async def settle(event: service.MatchEvent) -> None:
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        await service.settle(db, publisher, settings, event, service.utcnow(), roster=roster)

    @subscribe(broker, ACCEPTED)
    async def on_match_accepted(event: MatchAccepted) -> None:
        """The member's proposal becomes their match, and the pair's check-ins start."""
        await settle(event)
        await checkins.on_match_accepted(db, settings, event)

    @subscribe(broker, DECLINED)
    async def on_match_declined(event: MatchDeclined) -> None:
        """The member goes on to the next candidate."""
        await settle(event)

    @subscribe(broker, EXPIRED)
    async def on_match_expired(event: MatchExpired) -> None:
        """The member goes on to the next candidate."""
        await settle(event)

    @subscribe(broker, WITHDRAWN)
    async def on_match_withdrawn(event: MatchWithdrawn) -> None:
        """The member's request is closed."""
        await settle(event)

    @subscribe(broker, ENDED)
    async def on_match_ended(event: MatchEnded) -> None:
        """The member is free again, back on the waiting list if they asked; check-ins stop."""
        await settle(event)
        await checkins.on_match_ended(db, event)
