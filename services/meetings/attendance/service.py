"""Attendance use cases (to be written)."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.meetings.settings import Settings
from shared.messaging.publisher import EventPublisher


async def run_timers(
    db: AsyncDatabase[dict[str, Any]], publisher: EventPublisher, settings: Settings
) -> None:
    """The durable scheduled jobs of attendance (disengagement checks)."""
