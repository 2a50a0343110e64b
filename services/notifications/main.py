"""Wires the notifications service: its event handlers, what it publishes, its outbox, its routes."""

from fastapi import FastAPI

from contracts.notifications import NotificationDelivered
from services import notifications
from services.notifications import api, store, subscribers
from services.notifications.settings import Settings
from shared.app import event_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return event_service_app(
        settings or Settings(),
        description=notifications.__doc__ or "",
        router=api.router,
        publishes=(NotificationDelivered,),
        ensure_indexes=store.ensure_indexes,
        outbox_collections=lambda db: [db.notifications],
        register_subscribers=subscribers.register,
    )
