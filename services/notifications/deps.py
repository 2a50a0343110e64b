"""Dependencies of the notifications routes."""

from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo.asynchronous.database import AsyncDatabase


def _db(request: Request) -> AsyncDatabase[dict[str, Any]]:
    return request.app.state.db  # type: ignore[no-any-return]


Db = Annotated[AsyncDatabase[dict[str, Any]], Depends(_db)]
