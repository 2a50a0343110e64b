"""Wires the mentoring service: what it publishes, where its outbox lives, its routes."""

from fastapi import FastAPI

from contracts.mentoring import MENTORING_EVENTS
from services import mentoring
from services.mentoring import api, store
from services.mentoring.settings import Settings
from shared.app import event_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return event_service_app(
        settings or Settings(),
        description=mentoring.__doc__ or "",
        router=api.router,
        publishes=MENTORING_EVENTS,
        ensure_indexes=store.ensure_indexes,
        # A match's event is written with the mentor's claimed slot.
        outbox_collections=lambda db: [db.mentors],
    )
