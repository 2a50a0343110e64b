"""What every service's FastAPI app has in common: errors, health, auth, network, tracing, shutdown."""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from opentelemetry.sdk.trace import TracerProvider
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contracts.envelope import Event
from shared import docs
from shared.auth.jwks import JwksCache
from shared.auth.tokens import TokenVerifier
from shared.http import BodyLimit, install_problem_handlers
from shared.messaging.broker import make_broker, stop_broker
from shared.messaging.publisher import EventPublisher
from shared.network import NetworkFile
from shared.outbox import adopt_legacy, relay_forever
from shared.retention import run_shared_retention
from shared.settings import ServiceSettings
from shared.storage import connect, database
from shared.telemetry import instrument_http, setup_telemetry

Startup = Callable[[], Awaitable[None]]
Background = Callable[[], Coroutine[Any, Any, None]]


def service_app(
    settings: ServiceSettings,
    *,
    description: str,
    tracer_provider: TracerProvider | None,
    mongo: AsyncMongoClient[dict[str, Any]] | None,
    broker: NatsBroker | None = None,
    on_startup: Startup | None = None,
    background: list[Background] | None = None,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan starts the broker and background loops and stops them in order.

    Request bodies are limited to `settings.max_body_bytes`, or per path to `body_limits` (uploads).
    """
    logging.basicConfig(level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            await on_startup()
        if broker:
            await broker.start()
        tasks = [asyncio.create_task(job()) for job in background or []]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if broker:
                await stop_broker(broker)
            if mongo:
                await mongo.close()
            if tracer_provider:
                tracer_provider.shutdown()

    app = FastAPI(
        title=f"Recovery Network: {settings.service_name}",
        description=description,
        lifespan=lifespan,
        # Our spans come from the OpenTelemetry instrumentation (shared.telemetry.instrument_http), which
        # keeps a caller's trace as a link only: FastAPI's own would be a second span per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.verifier = token_verifier(settings)
    app.state.network = NetworkFile(settings.network_file)
    install_problem_handlers(app)
    docs.serve_docs(app)
    app.add_middleware(BodyLimit, default=settings.max_body_bytes, paths=body_limits or {})

    @app.get("/health/live", tags=["ops"])
    async def get_liveness() -> dict[str, object]:
        """Liveness: the process answers. No dependency is checked: an outage of the database or NATS
        must make replicas unready, not restart them all."""
        return {"service": settings.service_name, "ok": True}

    @app.get(
        "/health",
        tags=["ops"],
        responses={503: {"description": "a dependency is down", "content": {"application/json": {}}}},
    )
    async def get_health() -> JSONResponse:
        """Readiness: the broker is connected and the database answers (503 otherwise)."""
        checks: dict[str, bool] = {}
        if broker:
            checks["nats"] = bool(broker.connection and broker.connection.is_connected)
        if mongo:
            try:
                await mongo.admin.command("ping")
                checks["database"] = True
            except Exception:
                checks["database"] = False
        ok = all(checks.values())
        body = {"service": settings.service_name, "ok": ok, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    if tracer_provider:
        instrument_http(app, tracer_provider)
    return app


def token_verifier(settings: ServiceSettings) -> TokenVerifier:
    jwks = None
    if settings.jwks_url:
        jwks = JwksCache(
            settings.jwks_url,
            max_age=settings.jwks_max_age_seconds,
            refetch_interval=settings.jwks_refetch_interval_seconds,
        )
    return TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks=jwks,
        public_key_file=settings.jwt_public_key_file,
    )


Database = AsyncDatabase[dict[str, Any]]


def event_service_app(
    settings: ServiceSettings,
    *,
    description: str,
    router: APIRouter,
    publishes: Sequence[type[Event]],
    ensure_indexes: Callable[[Database], Awaitable[None]],
    outbox_collections: Callable[[Database], list[AsyncCollection[dict[str, Any]]]],
    register_subscribers: Callable[[NatsBroker, Database, EventPublisher], None] | None = None,
    background: Sequence[Callable[[Database, EventPublisher], Coroutine[Any, Any, None]]] = (),
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """The usual service: its own database, a broker, an outbox relay, routes and (maybe) event handlers
    and loops of its own (`background`, started after the broker and cancelled before it stops).

    `app.state` carries `db`, `publisher` and `broker` for the route dependencies in `shared.deps`.
    """
    tracer = setup_telemetry(settings)
    broker = make_broker(settings, tracer)
    publisher = EventPublisher(broker, publishes)
    mongo = connect(settings, tracer)
    db = database(mongo, settings)
    if register_subscribers:
        register_subscribers(broker, db, publisher)

    async def startup() -> None:
        await ensure_indexes(db)
        if adopted := await adopt_legacy(outbox_collections(db)):
            logging.getLogger(__name__).warning("outbox: %d documents with sent marks adopted", adopted)

    async def relay() -> None:
        window = timedelta(seconds=settings.stream_duplicate_window_seconds)
        await relay_forever(outbox_collections(db), publisher, settings.outbox_relay_interval_seconds, window)

    async def retention() -> None:
        await run_shared_retention(db, outbox_collections(db), settings)

    app = service_app(
        settings,
        description=description,
        tracer_provider=tracer,
        mongo=mongo,
        broker=broker,
        on_startup=startup,
        background=[relay, retention, *(functools.partial(job, db, publisher) for job in background)],
        body_limits=body_limits,
    )
    app.state.db, app.state.publisher, app.state.broker = db, publisher, broker
    app.include_router(router)
    spec = AsyncAPI(broker, title=app.title, version=app.version, description=description.strip())
    mount_asyncapi(app, spec)
    return app


def mount_asyncapi(app: FastAPI, spec: AsyncAPI) -> None:
    """The service's AsyncAPI document at /asyncapi.json and a viewer at /asyncapi."""
    app.state.asyncapi = spec

    @app.get("/asyncapi.json", tags=["ops"])
    async def read_asyncapi() -> dict[str, Any]:
        """The subjects this service publishes and consumes, with their schemas (AsyncAPI 3.0)."""
        return spec.to_specification().to_jsonable()  # type: ignore[no-any-return]

    docs.serve_asyncapi_viewer(app, spec)
