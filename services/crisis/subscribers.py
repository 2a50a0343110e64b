"""Crisis event handlers: alerts other services ask for, and webhook deliveries of escalations."""

from datetime import UTC, datetime
from typing import Any

from faststream.nats import NatsBroker
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import CrisisAlertReceived, CrisisEscalated, CrisisUrgentAlertReceived
from contracts.mentoring import CrisisAlertRequested
from services.crisis import service, webhooks
from shared.messaging.broker import subscribe
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription
from shared.network import NetworkFile
from shared.telemetry import CASE_ID, EVENT_ID, ORG, tag_current_span

SERVICE = "crisis"
URGENT_AT_ONCE = 8
ALERT_REQUESTS = Subscription(SERVICE, CrisisAlertRequested)
URGENT_ALERTS = Subscription(SERVICE, CrisisUrgentAlertReceived)
ROUTINE_ALERTS = Subscription(SERVICE, CrisisAlertReceived)
ESCALATIONS = Subscription(SERVICE, CrisisEscalated)
SUBSCRIPTIONS = (ALERT_REQUESTS, URGENT_ALERTS, ROUTINE_ALERTS, ESCALATIONS)


def register(
    broker: NatsBroker,
    db: AsyncDatabase[dict[str, Any]],
    publisher: EventPublisher,
    directory: service.Directory,
    network: NetworkFile,
    intake: service.Intake,
) -> None:
    async def open_received(event: CrisisAlertReceived | CrisisUrgentAlertReceived) -> None:
        tag_current_span({ORG: event.org, EVENT_ID: event.id, CASE_ID: event.data.case_id})
        d = event.data
        await service.raise_alert(
            db, publisher, directory, network.get(), org=event.org, member_id=d.member_id,
            severity=d.severity, channel=d.channel, by=d.reported_by, dedup_key=None,
            now=datetime.now(UTC), case_id=d.case_id, received_at=event.time,
        )  # fmt: skip

    # Several urgent alerts open side by side, routine ones one at a time and only while no urgent
    # one is opening: in a surge the urgent backlog takes nearly all the service's time.
    @subscribe(broker, URGENT_ALERTS, max_workers=URGENT_AT_ONCE)
    async def on_crisis_urgent_alert_received(event: CrisisUrgentAlertReceived) -> None:
        """Open the case of a high or imminent alert accepted in a surge, before any routine one."""
        async with intake.urgent_one():
            await open_received(event)

    @subscribe(broker, ROUTINE_ALERTS)
    async def on_crisis_alert_received(event: CrisisAlertReceived) -> None:
        """Open the case of a low or moderate alert accepted in a surge, once no urgent one is opening."""
        await intake.after_urgent()
        await open_received(event)

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
