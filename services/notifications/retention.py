"""Notifications retention: read in-app messages, attempt logs, finished deliveries, sent digests and
the cases' first-delivery marks, each after its configured age. Unread messages stay: nobody has seen
them yet.

A finished delivery is what keeps a redelivered event from being sent twice, so it goes with the
attempt log's age, far beyond JetStream's duplicate window. Claims and published outbox entries
are the shared job's (shared.retention).
"""

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.settings import Settings
from shared.retention import Counts, delete_old, delete_with_claims, run_forever

Db = AsyncDatabase[dict[str, Any]]
FINISHED = ["delivered", "failed", "sent", "cancelled"]


async def retention_round(db: Db, *, now: datetime, read_age: timedelta, attempts_age: timedelta) -> Counts:
    before = now - attempts_age
    return {
        "notifications": await delete_old(db.notifications, {"read_at": {"$lt": now - read_age}}),
        "attempts": await delete_old(db.attempts, {"at": {"$lt": before}}),
        "deliveries": await delete_with_claims(
            db.deliveries, {"state": {"$in": FINISHED}, "created_at": {"$lt": before}}
        ),
        "digests": await delete_old(db.digests, {"send_at": {"$lt": before}}),
        # Kept as long as the deliveries: a case escalates for hours, at worst days, never for that long.
        "first_deliveries": await delete_old(db.first_deliveries, {"at": {"$lt": before}}),
    }


async def run_retention(db: Db, settings: Settings) -> None:
    async def round_(now: datetime) -> Counts:
        return await retention_round(
            db,
            now=now,
            read_age=timedelta(days=settings.read_retention_days),
            attempts_age=timedelta(days=settings.attempts_retention_days),
        )

    await run_forever("notifications", round_, settings.retention_interval_seconds)
