"""Crisis event handlers: alerts other services ask for, and webhook deliveries of escalations."""

from datetime import UTC, datetime
from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import CrisisEscalated
from contracts.mentoring import CrisisAlertRequested
from services.crisis import service, webhooks
from shared.messaging.broker import subscribe
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription
from shared.network import NetworkFile
from shared.telemetry import CASE_ID, EVENT_ID, ORG, tag_current_span

SERVICE = "crisis"
ALERT_REQUESTS = Subscription(SERVICE, CrisisAlertRequested)
ESCALATIONS = Subscription(SERVICE, CrisisEscalated)
SUBSCRIPTIONS = (ALERT_REQUESTS, ESCALATIONS)


def register(
    broker: NatsBroker,
    db: AsyncDatabase[dict[str, Any]],
    publisher: EventPublisher,
    directory: service.Directory,
    network: NetworkFile,
) -> None:
    @subscribe(broker, ALERT_REQUESTS)
    async def on_crisis_alert_requested(event: CrisisAlertRequested) -> None:
        """Open a case (or add to the member's open one); a redelivered request only merges."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id})
        case, _ = await service.raise_alert(
            db, publisher, directory, network.get(), org=event.org, member_id=event.data.member_id,
            severity=event.data.severity, channel="service", by=event.data.requested_by,
            dedup_key=event.data.dedup_key, now=datetime.now(UTC),
        )  # fmt: skip
        tag_current_span({CASE_ID: case.id})

    @subscribe(broker, ESCALATIONS)
    async def on_crisis_escalated(event: CrisisEscalated) -> None:
        """Queue a signed webhook delivery when the organization registered an endpoint."""
        tag_current_span({ORG: event.org, EVENT_ID: event.id, CASE_ID: event.data.case_id})
        await webhooks.enqueue(db, event, datetime.now(UTC))
