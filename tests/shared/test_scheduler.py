"""The shared scheduler on the real document store: entries fire at their time, once each loop, and a
failure or a restart loses none."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared import scheduler
from tests.helpers import eventually

Document = dict[str, Any]
INTERVAL = 0.1


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def running(
    entries: AsyncCollection[Document], fire: Callable[[Document], Awaitable[None]]
) -> AsyncIterator[None]:
    """A scheduler loop for the length of the block, stopped as a process that shuts down stops it."""
    loop = asyncio.create_task(
        scheduler.run(entries, fire, interval=INTERVAL, clock=utcnow, name="test timer")
    )
    try:
        yield
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


class Recorder:
    """A fire function that notes which entry fired when, failing its first `failures` calls."""

    def __init__(self, failures: int = 0, takes: float = 0.0) -> None:
        self.fired: list[tuple[Document, datetime]] = []
        self.failures, self.takes = failures, takes

    async def __call__(self, entry: Document) -> None:
        self.fired.append((entry, utcnow()))
        await asyncio.sleep(self.takes)
        if len(self.fired) <= self.failures:
            raise RuntimeError("the store is away")

    def ids(self) -> list[str]:
        return [entry["_id"] for entry, _ in self.fired]


async def remaining(entries: AsyncCollection[Document]) -> list[str]:
    return [doc["_id"] for doc in await entries.find({}).to_list()]


async def _all_gone(entries: AsyncCollection[Document]) -> bool:
    return not await remaining(entries)


async def _gone(entries: AsyncCollection[Document], entry_id: str) -> bool:
    return await entries.find_one({"_id": entry_id}) is None


async def test_entries_fire_at_their_time_in_order_and_are_deleted(
    scratch_db: AsyncDatabase[Document],
) -> None:
    entries, fire = scratch_db.entries, Recorder()
    now = utcnow()
    await scheduler.schedule(entries, "later", now + timedelta(seconds=0.9), org="o", case_id="c2")
    await scheduler.schedule(entries, "sooner", now + timedelta(seconds=0.5), org="o", case_id="c1")

    async with running(entries, fire):
        await eventually(lambda: _all_gone(entries), within=5, interval=0.05)

    assert fire.ids() == ["sooner", "later"]
    for entry, fired_at in fire.fired:
        assert entry["org"] == "o" and entry["case_id"] in {"c1", "c2"}
        assert entry["at"] <= fired_at < entry["at"] + timedelta(seconds=0.5)


async def test_a_failing_fire_is_logged_and_tried_again_in_the_next_round(
    scratch_db: AsyncDatabase[Document], caplog: pytest.LogCaptureFixture
) -> None:
    entries, fire = scratch_db.entries, Recorder(failures=2)
    await scheduler.schedule(entries, "case-9@deadline", utcnow())

    with caplog.at_level(logging.ERROR, logger="shared.scheduler"):
        async with running(entries, fire):
            await eventually(lambda: _gone(entries, "case-9@deadline"), within=5, interval=0.05)

    assert fire.ids() == ["case-9@deadline"] * 3  # kept after each failure, deleted after the success
    failures = [r.getMessage() for r in caplog.records if r.name == "shared.scheduler"]
    assert failures == ["test timer case-9@deadline failed; the next round tries again"] * 2


async def test_an_entry_scheduled_twice_fires_once_per_loop(scratch_db: AsyncDatabase[Document]) -> None:
    entries = scratch_db.entries
    # Firing takes longer than a round, so rounds find the entry again while it fires.
    fire = Recorder(takes=3 * INTERVAL)
    at = (utcnow() + timedelta(seconds=0.3)).replace(microsecond=0)  # the store keeps milliseconds
    await scheduler.schedule(entries, "case-1@t", at, case_id="case-1")
    await scheduler.schedule(entries, "case-1@t", at + timedelta(hours=1), case_id="other")  # a retry
    assert await entries.find({}).to_list() == [{"_id": "case-1@t", "case_id": "case-1", "at": at}]

    async with running(entries, fire):
        await eventually(lambda: _gone(entries, "case-1@t"), within=5, interval=0.05)
        await asyncio.sleep(5 * INTERVAL)  # rounds enough for a second firing, if there were one

    assert fire.ids() == ["case-1@t"]


async def test_entries_survive_a_loop_restart(scratch_db: AsyncDatabase[Document]) -> None:
    entries, fire = scratch_db.entries, Recorder()
    now = utcnow()
    await scheduler.schedule(entries, "due-after-restart", now + timedelta(seconds=0.8))
    await scheduler.schedule(entries, "cancelled", now + timedelta(seconds=0.2))
    await scheduler.cancel(entries, "cancelled")

    async with running(entries, fire):
        await asyncio.sleep(4 * INTERVAL)  # the entry is sleeping in its task when the loop stops
    assert fire.fired == [] and await remaining(entries) == ["due-after-restart"]

    async with running(entries, fire):
        await eventually(lambda: _gone(entries, "due-after-restart"), within=5, interval=0.05)
    assert fire.ids() == ["due-after-restart"]
    assert fire.fired[0][1] >= fire.fired[0][0]["at"]


def test_retries_wait_four_times_longer_each_time_up_to_ten_minutes() -> None:
    delays = [scheduler.backoff(n, 2.0).total_seconds() for n in (1, 2, 3, 4, 5, 6)]
    assert delays == [2.0, 8.0, 32.0, 128.0, 512.0, 600.0]
