"""Wires the mentoring service: the only place that builds its broker, database and routes."""

from fastapi import FastAPI

from contracts.mentoring import MatchProposed
from services import mentoring
from services.mentoring import api, store
from services.mentoring.settings import Settings
from shared.app import service_app
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher
from shared.outbox import relay_forever
from shared.storage import connect, database
from shared.telemetry import setup_telemetry

PUBLISHES = (MatchProposed,)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    tracer = setup_telemetry(settings)
    broker = make_broker(settings, tracer)
    publisher = EventPublisher(broker, PUBLISHES)
    mongo = connect(settings)
    db = database(mongo, settings)

    async def startup() -> None:
        await store.ensure_indexes(db)

    async def relay() -> None:
        await relay_forever([db.requests], publisher, settings.outbox_relay_interval_seconds)

    app = service_app(
        settings,
        description=mentoring.__doc__ or "",
        tracer_provider=tracer,
        mongo=mongo,
        broker=broker,
        on_startup=startup,
        background=[relay],
    )
    app.state.db, app.state.publisher, app.state.broker = db, publisher, broker
    app.include_router(api.router)
    return app
