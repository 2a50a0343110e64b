"""Mentoring retention against the real document store."""

from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from services.mentoring import retention

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


async def test_check_ins_older_than_their_age_are_deleted_and_recent_ones_kept(
    scratch_db: AsyncDatabase,
) -> None:
    await scratch_db.check_ins.insert_many([
        {"_id": "old", "org": "o", "at": NOW - timedelta(days=731)},
        {"_id": "recent", "org": "o", "at": NOW - timedelta(days=700)},
    ])  # fmt: skip

    counts = await retention.retention_round(scratch_db, now=NOW, check_ins_age=timedelta(days=730))

    assert counts["check_ins"] == 1
    assert [d["_id"] for d in await scratch_db.check_ins.find({}).to_list()] == ["recent"]
