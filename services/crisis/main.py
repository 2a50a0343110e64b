"""Wires the crisis service: what it publishes, where its outbox lives, its routes."""

from fastapi import FastAPI

from contracts.crisis import CrisisEscalated, CrisisRaised
from services import crisis
from services.crisis import api, store
from services.crisis.settings import Settings
from shared.app import event_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return event_service_app(
        settings or Settings(),
        description=crisis.__doc__ or "",
        router=api.router,
        publishes=(CrisisRaised, CrisisEscalated),
        ensure_indexes=store.ensure_indexes,
        outbox_collections=lambda db: [db.cases],
    )
