"""Wires the mentoring service: what it publishes, its outbox, its routes, its subscribers and timers."""

from fastapi import FastAPI, Request, Response

from contracts.mentoring import MENTORING_EVENTS
from services import mentoring
from services.mentoring import api, retention, service, store, subscribers
from services.mentoring.capital import api as capital_api
from services.mentoring.capital import store as capital_store
from services.mentoring.checkins import api as checkins_api
from services.mentoring.checkins import service as checkins
from services.mentoring.checkins import store as checkins_store
from services.mentoring.milestones import api as milestones_api
from services.mentoring.milestones import service as milestones
from services.mentoring.milestones import store as milestones_store
from services.mentoring.pages import api as pages_api
from services.mentoring.roster import Roster
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared.app import event_service_app
from shared.http import problem_response
from shared.messaging.publisher import EventPublisher
from shared.revisions import Busy


async def ensure_indexes(db: Db) -> None:
    await store.ensure_indexes(db)
    await checkins_store.ensure_indexes(db)
    await milestones_store.ensure_indexes(db)
    await capital_store.ensure_indexes(db)


async def busy(request: Request, exc: Exception) -> Response:
    """So many writers on one mentor or member at once that this one gave up: try again."""
    answer = problem_response(request, 503, "Service Unavailable", "too many changes at once; try again")
    answer.headers["Retry-After"] = "1"
    return answer


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    roster = Roster()

    async def timers(db: Db, publisher: EventPublisher) -> None:
        await service.run_timers(db, publisher, settings, roster)

    async def check_in_timers(db: Db, publisher: EventPublisher) -> None:
        await checkins.run_timers(db, publisher, settings)

    async def milestone_timers(db: Db, publisher: EventPublisher) -> None:
        await milestones.run_timers(db, publisher, settings)

    async def expire(db: Db, _: EventPublisher) -> None:
        await retention.run_retention(db, settings)

    app = event_service_app(
        settings,
        description=mentoring.__doc__ or "",
        router=api.router,
        publishes=MENTORING_EVENTS,
        ensure_indexes=ensure_indexes,
        # A match's events are written with the mentor's slots.
        outbox_collections=lambda db: [
            db.mentors,
            *checkins_store.outbox_collections(db),
            *milestones_store.outbox_collections(db),
        ],
        register_subscribers=lambda broker, db, publisher: subscribers.register(
            broker, db, publisher, settings, roster
        ),
        background=(timers, check_in_timers, milestone_timers, expire),
    )
    for module in (checkins_api, milestones_api, capital_api, pages_api):
        app.include_router(module.router)
    # Made at start: a production start with the development notes key fails at once.
    app.state.settings, app.state.notes_sealer, app.state.roster = settings, settings.notes_sealer(), roster
    app.add_exception_handler(Busy, busy)
    return app
