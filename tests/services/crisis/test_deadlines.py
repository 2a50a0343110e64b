"""The timer loop's entries on the real document store: what it schedules and what it finds due."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.crisis import service, store
from shared import scheduler

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_every_open_case_with_a_deadline_is_scheduled_once_however_often_the_backfill_runs(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    await scratch_db.cases.insert_many(
        [
            {"_id": "triggered", "org": "o", "state": "triggered", "deadline": AT},
            {"_id": "acknowledged", "org": "o", "state": "acknowledged", "deadline": AT},
            {"_id": "resolved", "org": "o", "state": "resolved", "deadline": AT},
            {"_id": "no-deadline", "org": "o", "state": "triggered", "deadline": None},
        ]
    )
    await service.schedule_open_cases(scratch_db)
    await service.schedule_open_cases(scratch_db)  # it runs at every start

    entries = await scheduler.due_by(scratch_db.deadlines, AT)
    assert sorted((e["case_id"], e["org"]) for e in entries) == [("acknowledged", "o"), ("triggered", "o")]
    assert await scheduler.due_by(scratch_db.deadlines, AT - timedelta(seconds=1)) == []


async def test_an_entry_keeps_the_id_and_fields_of_the_entries_already_stored(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """Deadlines written before the shared scheduler existed must still be found, fired and deleted."""
    await store.schedule(scratch_db, "o", "case-1", AT)

    (entry,) = await scratch_db.deadlines.find({}).to_list()
    assert entry == {"_id": f"case-1@{AT.isoformat()}", "org": "o", "case_id": "case-1", "at": AT}
