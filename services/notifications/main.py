"""Wires the notifications service: its channels, event handlers, scheduler, retention and routes."""

from typing import Any

import httpx
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from contracts.notifications import Channel, NotificationDelivered, NotificationFailed
from services import notifications
from services.notifications import api, inbox, retention, service, store, subscribers
from services.notifications.channels import Adapter
from services.notifications.channels.email import Email
from services.notifications.channels.sms import Sms
from services.notifications.channels.webhook import Webhook
from services.notifications.live import Hub
from services.notifications.settings import Settings
from shared import scheduler, webhooks
from shared.app import event_service_app
from shared.messaging.publisher import EventPublisher

Db = AsyncDatabase[dict[str, Any]]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    hub = Hub()
    # The provider is a fixed, configured host (not a user's URL): no egress vetting needed here.
    sms_client = httpx.AsyncClient(timeout=settings.send_timeout_seconds, trust_env=False)
    email = Email(
        settings.smtp_host,
        settings.smtp_port,
        settings.email_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.send_timeout_seconds,
    )
    sms = Sms(
        sms_client, settings.sms_api_url, settings.sms_account_sid, settings.sms_auth_token,
        settings.sms_from, settings.sms_status_url,
    )  # fmt: skip
    hooks = webhooks.client(
        allow_private=settings.webhook_allow_private_targets, timeout=settings.send_timeout_seconds
    )

    # The webhook adapter reads the organization's endpoint: it gets the database with the app.
    adapters: dict[Channel, Adapter] = {"email": email, "sms": sms}
    senders = service.Senders(adapters=adapters, link_bases=settings.link_bases)

    async def timers(db: Db, publisher: EventPublisher) -> None:
        async def fire(entry: dict[str, Any]) -> None:
            await service.fire(db, publisher, senders, entry)

        try:
            await scheduler.run(
                db.schedule, fire, interval=settings.scheduler_interval_seconds, clock=service.utcnow,
                name="notifications",
            )  # fmt: skip
        finally:
            await sms_client.aclose()
            await hooks.aclose()

    async def expire(db: Db, _: EventPublisher) -> None:
        await retention.run_retention(db, settings)

    app = event_service_app(
        settings,
        description=notifications.__doc__ or "",
        router=api.router,
        publishes=(NotificationDelivered, NotificationFailed),
        ensure_indexes=store.ensure_indexes,
        outbox_collections=lambda db: [db.notifications, db.attempts],
        register_subscribers=lambda broker, db, publisher: subscribers.register(
            broker, db, publisher, senders, hub
        ),
        background=(timers, expire),
    )
    app.include_router(inbox.router)
    adapters["webhook"] = Webhook(app.state.db, hooks)
    app.state.senders, app.state.hub, app.state.settings = senders, hub, settings
    return app
