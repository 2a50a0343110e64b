"""Rollups on the real document store: two replicas flushing the same period both count, and a
service that stops writes what it had not written yet."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.insights import boards, service, store
from tests.services.insights.test_rollups import NETWORK, T0, admin, figure, span


async def board(db: AsyncDatabase[dict[str, Any]]) -> dict[str, Any]:
    b = boards.BOARDS["services"]
    columns = boards.columns_for(admin("org-a"), NETWORK)
    win = boards.window(T0, T0 + timedelta(hours=1), "minute")
    docs = await store.read_rollups(db, boards.documents_to_read(b, boards.scopes_of(columns), win))
    return boards.dashboard(b, columns, docs, win)


async def test_two_replicas_flushing_the_same_minutes_at_once_both_count(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    replicas = [service.Pending(), service.Pending()]
    for i, pending in enumerate(replicas):
        for n in range(50):
            pending.cells.add_span(span(T0 + timedelta(seconds=n), 10.0 + i))
    await asyncio.gather(*(service.flush(scratch_db, p) for p in replicas))
    (row,) = figure(await board(scratch_db), "operations", "org-a")["rows"]  # type: ignore[index]
    assert row["count"] == 100
    assert not any(p.cells.minutes or p.unwritten for p in replicas)


async def test_a_stopping_service_writes_the_cells_it_still_holds(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    pending = service.Pending()
    flusher = asyncio.create_task(service.flush_forever(scratch_db, pending, interval=3600))
    await asyncio.sleep(0)
    pending.cells.add_span(span(T0, 10.0))
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    (row,) = figure(await board(scratch_db), "operations", "org-a")["rows"]  # type: ignore[index]
    assert row["count"] == 1


async def test_old_spans_and_rollups_go_and_recent_ones_stay(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    now = datetime.now(UTC)
    for at in (now - timedelta(days=8), now - timedelta(hours=1)):  # two exports
        await store.save_spans(scratch_db, [span(at, 1.0)])
    pending = service.Pending()
    pending.cells.add_span(span(now - timedelta(days=3), 1.0))
    pending.cells.add_span(span(now, 1.0))
    await service.flush(scratch_db, pending)
    assert await store.delete_old_spans(scratch_db, now - timedelta(days=7)) == 1
    assert await store.delete_old_rollups(scratch_db, "m", now - timedelta(days=2)) == 2  # spans and facts
    (kept_chunk,) = [d async for d in scratch_db.spans.find({})]
    assert kept_chunk["until"] > now - timedelta(days=1)
    kept = {d["res"] async for d in scratch_db.rollups.find({"at": {"$lt": now - timedelta(days=2)}})}
    assert kept == {"h", "d"}  # the hours and days of that old minute stay
