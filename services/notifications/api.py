"""Notifications HTTP routes."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.notifications import service
from services.notifications.deps import Db
from shared.auth.fastapi import CurrentPrincipal

router = APIRouter(tags=["notifications"])


class NotificationPublic(BaseModel):
    id: str
    category: str
    priority: str
    title: str
    body: str
    link: str
    created_at: datetime


@router.get("/me/notifications")
async def list_my_notifications(
    caller: CurrentPrincipal, db: Db, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NotificationPublic]:
    """The caller's in-app inbox, newest first (a regional responder's includes their regions' cases)."""
    items = await service.inbox(db, caller, limit)
    return [NotificationPublic.model_validate(n, from_attributes=True) for n in items]
