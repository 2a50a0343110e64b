"""Crisis retention: webhook attempt logs and finished deliveries, and the audit trails, each after its age.

The audit trails (who read which case, who named which regional team) have their own long age,
and nothing else deletes from them. Claims and published outbox entries are the shared job's
(shared.retention).
"""

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.crisis.settings import Settings
from shared.retention import Counts, delete_old, delete_with_claims, run_forever

Db = AsyncDatabase[dict[str, Any]]
FINISHED = ["delivered", "failed"]


async def retention_round(
    db: Db, *, now: datetime, attempts_age: timedelta, deliveries_age: timedelta, audit_age: timedelta
) -> Counts:
    return {
        "webhook_attempts": await delete_old(db.webhook_attempts, {"at": {"$lt": now - attempts_age}}),
        "webhook_deliveries": await delete_finished_deliveries(db, before=now - deliveries_age),
        "audit": await delete_old(db.audit, {"at": {"$lt": now - audit_age}}),
        "regional_team_changes": await delete_old(db.regional_team_changes, {"at": {"$lt": now - audit_age}}),
    }


async def delete_finished_deliveries(db: Db, *, before: datetime) -> int:
    """Delete deliveries that finished before `before`, with their claims; returns how many.

    A delivery is what keeps a redelivered escalation from being posted twice, so it must outlive
    JetStream's duplicate window by far (settings). A finished delivery's `next_at` is the end of
    the lease of its last attempt: it finished before that.
    """
    query = {"state": {"$in": FINISHED}, "next_at": {"$lt": before}}
    return await delete_with_claims(db.webhook_deliveries, query)


async def run_retention(db: Db, settings: Settings) -> None:
    async def round_(now: datetime) -> Counts:
        return await retention_round(
            db,
            now=now,
            attempts_age=timedelta(hours=settings.webhook_attempts_retention_hours),
            deliveries_age=timedelta(hours=settings.webhook_deliveries_retention_hours),
            audit_age=timedelta(days=settings.audit_retention_days),
        )

    await run_forever("crisis", round_, settings.retention_interval_seconds)
