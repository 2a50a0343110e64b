"""Wires the meetings service: what it publishes, its outbox, its routes, its directory and timers."""

import asyncio

from fastapi import FastAPI

from contracts.meetings import MEETING_EVENTS
from services import meetings
from services.meetings import api, directory_api, readmodel, store, subscribers
from services.meetings.attendance import api as attendance_api
from services.meetings.attendance import service as attendance
from services.meetings.attendance import store as attendance_store
from services.meetings.directory import Directory
from services.meetings.feed import api as feed_api
from services.meetings.ical import api as ical_api
from services.meetings.pages import api as pages_api
from services.meetings.settings import Settings
from services.meetings.store import Db
from shared.app import event_service_app
from shared.messaging.publisher import EventPublisher


async def ensure_indexes(db: Db) -> None:
    await store.ensure_indexes(db)
    await attendance_store.ensure_indexes(db)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    directory, ready = Directory(), asyncio.Event()

    async def timers(db: Db, publisher: EventPublisher) -> None:
        await attendance.run_timers(db, publisher, settings)

    async def follow(db: Db, _: EventPublisher) -> None:
        await readmodel.keep_current(db, app.state.broker.connection, directory, ready)

    app = event_service_app(
        settings,
        description=meetings.__doc__ or "",
        router=api.router,
        publishes=MEETING_EVENTS,
        ensure_indexes=ensure_indexes,
        outbox_collections=lambda db: [db.meetings, db.attendance, db.attendance_members],
        register_subscribers=lambda broker, db, _: subscribers.register(broker, db, settings),
        background=(timers, follow),
        body_limits={"/meetings/import": settings.max_import_bytes},
    )
    for module in (directory_api, feed_api, ical_api, attendance_api, pages_api):
        app.include_router(module.router)
    app.state.settings, app.state.directory, app.state.directory_ready = settings, directory, ready
    return app
