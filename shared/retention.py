"""Retention jobs: what only grows is deleted once it is old enough to be of no more use (DESIGN 5).

Explicit rounds, not TTL indexes (the local store has none). A round works in batches of `BATCH`
found without a sort: on FerretDB any filter but `_id` scans the collection, and an unsorted query
with a limit stops at the limit, where old documents (inserted first) are met first. Deletes go by
`_id`, one statement each in one bulk write, which both servers answer through the `_id` index.
Measured on the local store, 20,000 claims of 2 kB, 1,000 of them old: 500 old ones found in 75 ms
(a query that finds none reads everything: 2.1 s); 500 deleted in 0.26 s, against 2.6 s for one
`_id: {$in: ...}` delete, which scans. Every delete is idempotent, so two replicas running the
same round at once only do the work twice.

Here: revision claims (shared.revisions) of every collection of the database, and the published
entries of outboxes (shared.outbox). Service-specific retention (the crisis attempt logs, its audit
trail) uses the same helpers.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DeleteOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.outbox import OUTBOX, OUTBOX_AT, intents_of
from shared.revisions import CLAIMS_SUFFIX, REV, claims_of, write_revision
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)
Document = dict[str, Any]
Counts = dict[str, int]
Clock = Callable[[], datetime]
BATCH = 500
# Between batches: a round that has much to catch up with (its first, in a database that has grown
# for months) runs as long as it takes, without keeping the store from the services' own work.
PAUSE = 0.1


def utcnow() -> datetime:
    return datetime.now(UTC)


async def delete_ids(
    collection: AsyncCollection[Document], ids: Iterable[Any], guard: Mapping[str, Any]
) -> int:
    """Delete each of `ids` that still matches `guard`; returns how many went."""
    ops = [DeleteOne({"_id": i, **guard}) for i in ids]
    if not ops:
        return 0
    return (await collection.bulk_write(ops, ordered=False)).deleted_count


async def delete_old(collection: AsyncCollection[Document], query: Mapping[str, Any]) -> int:
    """Delete what matches `query` (which says what is old enough), a batch at a time; returns how many."""
    deleted = 0
    while True:
        found = await collection.find(query, {"_id": 1}, limit=BATCH).to_list()
        went = await delete_ids(collection, (d["_id"] for d in found), query)
        deleted += went
        if len(found) < BATCH or not went:
            return deleted
        await asyncio.sleep(PAUSE)


async def delete_with_claims(collection: AsyncCollection[Document], query: Mapping[str, Any]) -> int:
    """Delete the documents `query` finds, with their revision claims; returns how many.

    The claims first: a document created again under the same id (a replayed dead letter) would
    otherwise meet them and take its predecessor's writes (shared.revisions).
    """
    deleted = 0
    while True:
        found = await collection.find(query, {REV: 1}, limit=BATCH).to_list()
        claims = [f"{d['_id']}:{n}" for d in found for n in range(d.get(REV, 0) + 1)]
        await delete_ids(claims_of(collection), claims, {})
        went = await delete_ids(collection, (d["_id"] for d in found), query)
        deleted += went
        if len(found) < BATCH or not went:
            return deleted
        await asyncio.sleep(PAUSE)


async def trim_claims(collection: AsyncCollection[Document], *, now: datetime, age: timedelta) -> int:
    """Delete the claims of `collection` older than `age` whose write has been applied; returns how many.

    A claim `<id>:<n>` is applied once the document is past revision `n`, or gone. An unapplied
    one is kept whatever its age: the next writer of the document applies it (shared.revisions).
    """
    claims = claims_of(collection)
    deleted = kept = 0
    while True:
        # The kept ones stay first in the scan: skipped, so that a batch of them cannot stall the round.
        found = await claims.find({"at": {"$lt": now - age}}, {"_id": 1}, skip=kept, limit=BATCH).to_list()
        revs: dict[str, int | None] = {}  # a document's claims come together: it is read once
        applied = [c["_id"] for c in found if await _applied(collection, c["_id"], revs)]
        kept += len(found) - len(applied)
        deleted += await delete_ids(claims, applied, {})
        if len(found) < BATCH:
            return deleted
        await asyncio.sleep(PAUSE)


async def _applied(collection: AsyncCollection[Document], claim_id: str, revs: dict[str, int | None]) -> bool:
    doc_id, _, rev = claim_id.rpartition(":")
    if not doc_id or not rev.isdigit():
        return False  # not written by shared.revisions: not ours to judge
    if doc_id not in revs:
        revs[doc_id] = await _current_rev(collection, doc_id)
    current = revs[doc_id]
    return current is None or current > int(rev)


async def _current_rev(collection: AsyncCollection[Document], doc_id: str) -> int | None:
    """The document's revision, None if it is gone."""
    # The claim's id holds the document's id as text: an ObjectId (mentors) is looked up as one too.
    for candidate in (doc_id, ObjectId(doc_id)) if ObjectId.is_valid(doc_id) else (doc_id,):
        doc = await collection.find_one({"_id": candidate}, {REV: 1})
        if doc is not None:
            return int(doc.get(REV, 0))
    return None


async def trim_outboxes(collection: AsyncCollection[Document], *, now: datetime, age: timedelta) -> int:
    """Drop the published entries of documents whose outbox has not changed for `age`; returns how many.

    A document with an outbox intent left (shared.outbox) is the relay's and is skipped. Each trim is
    a revision write, so a change that lands meanwhile wins and the document is trimmed in a later
    round; a trimmed document has no `outbox_at` and is not met again until its next event.
    """
    query = {OUTBOX_AT: {"$lt": now - age}}
    intents = intents_of(collection)
    dropped = 0
    while True:
        found = await collection.find(query, {OUTBOX: 1, REV: 1}, limit=BATCH).to_list()
        trimmed = 0
        for doc in found:
            if await intents.find_one({"collection": collection.name, "doc": doc["_id"]}):
                continue
            cleared: Document = {OUTBOX: [], OUTBOX_AT: None}
            if await write_revision(collection, doc["_id"], doc.get(REV, 0), cleared):
                dropped, trimmed = dropped + len(doc.get(OUTBOX, [])), trimmed + 1
        if len(found) < BATCH or not trimmed:
            return dropped
        await asyncio.sleep(PAUSE)


async def shared_round(
    db: AsyncDatabase[Document],
    outbox_collections: Sequence[AsyncCollection[Document]],
    *,
    now: datetime,
    claims_age: timedelta,
    outbox_age: timedelta,
) -> Counts:
    """Claims of every collection that has them, and published entries of the outbox collections."""
    counts: Counts = {}
    for name in sorted(await db.list_collection_names()):
        if name.endswith(CLAIMS_SUFFIX):
            counts[name] = await trim_claims(db[name.removesuffix(CLAIMS_SUFFIX)], now=now, age=claims_age)
    for collection in outbox_collections:
        counts[f"{collection.name}.{OUTBOX}"] = await trim_outboxes(collection, now=now, age=outbox_age)
    return counts


async def run_forever(
    name: str, round_: Callable[[datetime], Awaitable[Counts]], interval: float, clock: Clock = utcnow
) -> None:
    """Runs for the life of the service: a round at start (a service restarted more often than
    `interval` still cleans up), then one every `interval`; a failed round is logged and tried again."""
    while True:
        try:
            counts = await round_(clock())
            if any(counts.values()):
                log.info("%s retention deleted %s", name, {k: v for k, v in counts.items() if v})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s retention round failed; the next round tries again", name)
        await asyncio.sleep(interval)


async def run_shared_retention(
    db: AsyncDatabase[Document],
    outbox_collections: Sequence[AsyncCollection[Document]],
    settings: ServiceSettings,
) -> None:
    async def round_(now: datetime) -> Counts:
        claims_age = timedelta(hours=settings.claims_retention_hours)
        outbox_age = timedelta(hours=settings.outbox_retention_hours)
        return await shared_round(
            db, outbox_collections, now=now, claims_age=claims_age, outbox_age=outbox_age
        )

    await run_forever(settings.service_name, round_, settings.retention_interval_seconds)
