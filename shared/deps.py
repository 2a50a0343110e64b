"""Route dependencies every event service shares; each service's deps.py adds its own roles."""

from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo.asynchronous.database import AsyncDatabase

from shared.messaging.publisher import EventPublisher
from shared.network import Network


def _db(request: Request) -> AsyncDatabase[dict[str, Any]]:
    return request.app.state.db  # type: ignore[no-any-return]


def _publisher(request: Request) -> EventPublisher:
    return request.app.state.publisher  # type: ignore[no-any-return]


def _network(request: Request) -> Network:
    return request.app.state.network.get()  # type: ignore[no-any-return]


Db = Annotated[AsyncDatabase[dict[str, Any]], Depends(_db)]
Publisher = Annotated[EventPublisher, Depends(_publisher)]
CurrentNetwork = Annotated[Network, Depends(_network)]
