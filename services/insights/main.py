"""Wires the insights service. It exports no traces of its own: they would loop back into it."""

from fastapi import FastAPI

from services import insights
from services.insights import api, pages, service, store
from services.insights.settings import Settings
from shared.app import service_app
from shared.storage import connect, database


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    mongo = connect(settings)
    db = database(mongo, settings)
    pending = service.Pending()

    async def startup() -> None:
        await store.ensure_indexes(db)

    app = service_app(
        settings,
        description=insights.__doc__ or "",
        tracer_provider=None,
        mongo=mongo,
        on_startup=startup,
        background=[
            lambda: service.flush_forever(db, pending, settings.rollup_flush_seconds),
            lambda: service.retention_forever(db, settings),
        ],
        body_limits={"/v1/traces": settings.max_otlp_body_bytes},
    )
    app.state.db = db
    app.state.pending = pending
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
