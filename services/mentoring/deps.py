"""Dependencies of the mentoring routes."""

from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo.asynchronous.database import AsyncDatabase

from shared.auth.fastapi import require_roles
from shared.auth.principal import Principal, Role
from shared.messaging.publisher import EventPublisher


def _db(request: Request) -> AsyncDatabase[dict[str, Any]]:
    return request.app.state.db  # type: ignore[no-any-return]


def _publisher(request: Request) -> EventPublisher:
    return request.app.state.publisher  # type: ignore[no-any-return]


Db = Annotated[AsyncDatabase[dict[str, Any]], Depends(_db)]
Publisher = Annotated[EventPublisher, Depends(_publisher)]
OrgAdmin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN))]
Member = Annotated[Principal, Depends(require_roles(Role.MEMBER))]
