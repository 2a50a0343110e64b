"""The one durable scheduler: entries in a collection, fired at their time by a loop in each replica.

A service keeps its entries in a small collection of its own (crisis: `deadlines`), one document
`{_id, at, ...fields}` per thing to do at a time. The loop asks the store once per `interval` for
the entries of the next `interval`, and gives each its own task that sleeps until the entry's
time: timers fire on time, side by side, while the store is asked only once per round (on FerretDB
a range query scans its whole collection, so the collection must stay small: entries are deleted
once fired, and hold ids, not the state they are about).

An entry is deleted only after `fire` returned, so a restart or a crash loses none: the next loop
finds it again. That also means an entry can fire more than once: two replicas both run the loop
and both fire the entries they find, and a replica may die between firing and deleting. So `fire`
must be idempotent: it reads the current state of what the entry is about and acts only if the
action is still due (crisis: the case's revision decides, and a deadline already handled is a no-op).
Entry ids and fields are written to logs: ids only, never personal data.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)
Document = dict[str, Any]
Fire = Callable[[Document], Awaitable[None]]
Clock = Callable[[], datetime]
MAX_BACKOFF = timedelta(minutes=10)
# How long a stopping loop lets the entries already firing finish. Cancelled midway, a firing may stop
# between an outbox intent and its write (shared.outbox): the intent then waits out its 10 minutes,
# though the entry fires again after the restart. A firing is a few reads and writes (a webhook
# delivery: one request, within its own time-out), so a graceful stop rarely waits this long.
DRAIN_SECONDS = 5.0


def backoff(attempt: int, base_seconds: float) -> timedelta:
    """Wait before attempt `attempt + 1` of a retried job: base, 4xbase, 16xbase ..., at most ten minutes."""
    return min(timedelta(seconds=base_seconds * 4 ** (attempt - 1)), MAX_BACKOFF)


async def schedule(collection: AsyncCollection[Document], entry_id: str, at: datetime, **fields: Any) -> None:
    """Record `{_id: entry_id, at, **fields}`; an entry already recorded under that id stays as it is.

    The id says what and when (crisis: `<case>@<deadline>`), so scheduling the same thing again,
    from a retry or a second replica, adds nothing.
    """
    with contextlib.suppress(DuplicateKeyError):
        await collection.insert_one({"_id": entry_id, **fields, "at": at})


async def cancel(collection: AsyncCollection[Document], entry_id: str) -> None:
    """Forget an entry; nothing happens if it already fired or never existed."""
    await collection.delete_one({"_id": entry_id})


async def due_by(
    collection: AsyncCollection[Document], horizon: datetime, limit: int = 1000
) -> list[Document]:
    """The entries due at or before `horizon`, soonest first."""
    return await collection.find({"at": {"$lte": horizon}}, sort=[("at", 1)], limit=limit).to_list()


async def run(
    collection: AsyncCollection[Document],
    fire: Fire,
    *,
    interval: float,
    clock: Clock,
    concurrency: int = 16,
    name: str = "timer",
    drain_seconds: float = DRAIN_SECONDS,
) -> None:
    """Fire every entry of `collection` at or after its time, until cancelled.

    `fire(entry)` returning deletes the entry; raising logs it (with `name` and the entry's id) and
    leaves it for the next round. At most `concurrency` entries fire at once: each is a few reads
    and writes, and a burst of them must not take every connection from the requests. Cancelled, the
    loop waits up to `drain_seconds` for the entries already firing.
    """
    pending: dict[str, asyncio.Task[None]] = {}
    firing: set[str] = set()  # ids of the entries inside `fire`
    slots = asyncio.Semaphore(concurrency)

    async def fire_at(entry: Document) -> None:
        try:
            await asyncio.sleep(max((entry["at"] - clock()).total_seconds(), 0))
            async with slots:
                firing.add(entry["_id"])
                await fire(entry)
                await collection.delete_one({"_id": entry["_id"]})
        except Exception:
            log.exception("%s %s failed; the next round tries again", name, entry["_id"])
        finally:
            firing.discard(entry["_id"])
            pending.pop(entry["_id"], None)

    try:
        while True:
            started = clock()
            try:
                for entry in await due_by(collection, started + timedelta(seconds=interval)):
                    # An entry already sleeping in its task is not given a second one.
                    if entry["_id"] not in pending:
                        pending[entry["_id"]] = asyncio.create_task(fire_at(entry))
            except Exception:
                log.exception("%s round failed; trying again", name)
            await asyncio.sleep(max(interval - (clock() - started).total_seconds(), 0))
    finally:
        # Entries still waiting for their time (or a slot) are found again by the next loop; those
        # firing are let finish, so a graceful stop leaves no write half done.
        finishing = [task for entry_id, task in pending.items() if entry_id in firing]
        for entry_id, task in pending.items():
            if entry_id not in firing:
                task.cancel()
        if finishing:
            _, late = await asyncio.wait(finishing, timeout=drain_seconds)
            for task in late:
                task.cancel()
