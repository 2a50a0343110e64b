"""What every service's FastAPI app has in common: errors, health, auth, network, tracing, shutdown."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from pymongo import AsyncMongoClient

from shared.auth.tokens import TokenVerifier
from shared.http import install_problem_handlers
from shared.network import NetworkFile
from shared.settings import ServiceSettings

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
) -> FastAPI:
    """A FastAPI app whose lifespan starts the broker and background loops and stops them in order."""
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
                await broker.stop()
            if mongo:
                await mongo.close()
            if tracer_provider:
                tracer_provider.shutdown()

    app = FastAPI(
        title=f"Recovery Network: {settings.service_name}", description=description, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.verifier = TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwks_url,
        public_key_file=settings.jwt_public_key_file,
    )
    app.state.network = NetworkFile(settings.network_file)
    install_problem_handlers(app)

    @app.get("/health", tags=["ops"], responses={503: {"description": "a dependency is down"}})
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
        FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider, excluded_urls="health")
    return app
