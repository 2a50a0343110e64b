"""Wires the meetings service: what it publishes, where its outbox lives, its routes."""

from fastapi import FastAPI

from contracts.meetings import MeetingScheduled
from services import meetings
from services.meetings import api, store
from services.meetings.settings import Settings
from shared.app import event_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return event_service_app(
        settings or Settings(),
        description=meetings.__doc__ or "",
        router=api.router,
        publishes=(MeetingScheduled,),
        ensure_indexes=store.ensure_indexes,
        outbox_collections=lambda db: [db.meetings],
    )
