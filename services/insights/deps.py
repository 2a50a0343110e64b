"""Dependencies of the insights routes."""

from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo.asynchronous.database import AsyncDatabase

from shared.auth.fastapi import require_roles
from shared.auth.principal import Principal, Role


def _db(request: Request) -> AsyncDatabase[dict[str, Any]]:
    return request.app.state.db  # type: ignore[no-any-return]


Db = Annotated[AsyncDatabase[dict[str, Any]], Depends(_db)]
Admin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN, Role.COORDINATOR))]
