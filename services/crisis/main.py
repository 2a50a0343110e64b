"""Wires the crisis service: what it publishes, its loops (escalation timers, webhooks), its routes."""

from typing import Any

from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import (
    CrisisAcknowledged,
    CrisisAlertReceived,
    CrisisCancelled,
    CrisisEscalated,
    CrisisFollowUpCompleted,
    CrisisFollowUpScheduled,
    CrisisRaised,
    CrisisResolved,
    CrisisResponderDeactivated,
    CrisisSeverityRaised,
    CrisisUrgentAlertReceived,
)
from services import crisis
from services.crisis import api, console, retention, service, signin, store, subscribers, webhooks
from services.crisis.settings import Settings
from shared.app import event_service_app
from shared.auth.oidc import OidcClient
from shared.auth.session import Sessions
from shared.messaging.publisher import EventPublisher
from shared.network import NetworkFile

Db = AsyncDatabase[dict[str, Any]]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    network = NetworkFile(settings.network_file)
    directory = service.Directory()
    intake = service.Intake(limit=settings.alerts_opened_at_once)
    sealer = settings.notes_sealer()

    async def timers(db: Db, publisher: EventPublisher) -> None:
        await service.run_timers(db, publisher, directory, network.get, settings.timer_interval_seconds)

    async def deliveries(db: Db, publisher: EventPublisher) -> None:
        await webhooks.run_deliveries(
            db,
            publisher,
            sealer,
            interval=settings.timer_interval_seconds,
            request_timeout=settings.webhook_timeout_seconds,
            max_attempts=settings.webhook_max_attempts,
            backoff_base=settings.webhook_backoff_base_seconds,
            allow_private=settings.webhook_allow_private_targets,
        )

    async def expire(db: Db, _: EventPublisher) -> None:
        await retention.run_retention(db, settings)

    app = event_service_app(
        settings,
        description=crisis.__doc__ or "",
        router=api.router,
        publishes=(
            CrisisAlertReceived,
            CrisisUrgentAlertReceived,
            CrisisRaised,
            CrisisEscalated,
            CrisisSeverityRaised,
            CrisisAcknowledged,
            CrisisResolved,
            CrisisCancelled,
            CrisisFollowUpScheduled,
            CrisisFollowUpCompleted,
            CrisisResponderDeactivated,
        ),
        ensure_indexes=store.ensure_indexes,
        outbox_collections=lambda db: [db.cases, db.staff],
        register_subscribers=lambda broker, db, publisher: subscribers.register(
            broker, db, publisher, directory, network, intake
        ),
        background=(timers, deliveries, expire),
    )
    app.state.sealer, app.state.directory, app.state.intake = sealer, directory, intake
    app.state.sessions = Sessions(
        secret=settings.console_session_secret.get_secret_value().encode(),
        secure=settings.public_url.startswith("https://"),
    )
    app.state.oidc = _oidc_client(settings)
    app.include_router(console.router)
    app.include_router(signin.router)
    return app


def _oidc_client(settings: Settings) -> OidcClient | None:
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    return OidcClient(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
        scopes=settings.oidc_scopes,
        redirect_uri=f"{settings.public_url.rstrip('/')}/crisis/console/oidc/callback",
    )
