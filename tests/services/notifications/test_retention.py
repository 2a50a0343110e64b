"""Retention removes read in-app messages, attempt logs, finished deliveries and sent digests after
their age, and keeps unread messages and deliveries still under way."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.retention import retention_round

Db = AsyncDatabase[dict[str, Any]]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=100), NOW - timedelta(days=10)


async def test_old_read_messages_and_finished_logs_go_and_the_rest_stays(scratch_db: Db) -> None:
    db = scratch_db
    await db.notifications.insert_many(
        [
            {"_id": "read-old", "read_at": OLD, "created_at": OLD},
            {"_id": "read-recent", "read_at": RECENT, "created_at": OLD},
            {"_id": "unread-old", "read_at": None, "created_at": OLD},
        ]
    )
    await db.attempts.insert_many([{"_id": "a-old", "at": OLD}, {"_id": "a-recent", "at": RECENT}])
    await db.deliveries.insert_many(
        [
            {"_id": "d-done", "state": "delivered", "created_at": OLD, "rev": 1},
            {"_id": "d-pending", "state": "pending", "created_at": OLD, "rev": 0},
        ]
    )
    await db.deliveries_claims.insert_one({"_id": "d-done:0", "at": OLD})
    await db.digests.insert_many([{"_id": "g-old", "send_at": OLD}, {"_id": "g-new", "send_at": RECENT}])
    await db.first_deliveries.insert_many([{"_id": "o/c-old", "at": OLD}, {"_id": "o/c-new", "at": RECENT}])

    counts = await retention_round(db, now=NOW, read_age=timedelta(days=90), attempts_age=timedelta(days=90))

    assert counts == {"notifications": 1, "attempts": 1, "deliveries": 1, "digests": 1, "first_deliveries": 1}
    assert [d["_id"] for d in await db.notifications.find({}, sort=[("_id", 1)]).to_list()] == [
        "read-recent",
        "unread-old",
    ]
    assert [d["_id"] for d in await db.deliveries.find({}).to_list()] == ["d-pending"]
    assert await db.deliveries_claims.count_documents({}) == 0
    assert [d["_id"] for d in await db.attempts.find({}).to_list()] == ["a-recent"]
    assert [d["_id"] for d in await db.first_deliveries.find({}).to_list()] == ["o/c-new"]
