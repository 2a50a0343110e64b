"""The outbox: a state change and its events are written in one single-document write.

A document carries its events in an `outbox` array. Before the write, the writer records an
*intent* in the small `outbox_intents` collection (the document's id and its events' ids); after
the write it publishes the events and deletes the intent. The relay loop reads only the intents
older than its grace: each one left behind is a writer that died, or could not publish, between
its write and the delete. The relay publishes those events from the document (a write that never
happened has none: its intent is dropped once it is old enough that the write cannot still land)
and deletes the intent.

An event leaves the outbox once: only an intent makes anything publish again, and an intent is
deleted once its events are acknowledged. The relay's copy of an event its writer did publish
(the writer died before deleting the intent) comes within a grace and a round of the write, both
held well inside JetStream's duplicate window (`relay_grace`, and the settings' check of the
round), so JetStream drops it. Two cases remain where an event is stored twice: its writer
published and then lost the store for longer than the window before deleting the intent, or no
relay of any replica ran for the whole window; consumers' idempotence absorbs those.

A write that fails without a refusal (a timeout, a lost connection) keeps its intent: it may have
landed, or won a revision claim (shared.revisions) that the relay applies before it calls an intent
abandoned. A consumer that writes need not use intents at all when it acknowledges its message only
after publishing: the redelivered message is its relay (services/notifications does so).

Measured (`bench/crisis_latency.py`, local store): the previous design, sent marks on the document
written by the relay, read every document of every outbox collection each round (1 ms of store CPU
per crisis case, every 10 s, growing with every case ever opened) and cost a read and two writes
of the large document per change; an intent costs an insert and a delete of a small one.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from contracts.envelope import Event
from shared.messaging.publisher import EventPublisher, PublishFailed
from shared.revisions import REV, apply_pending, write_revision

log = logging.getLogger(__name__)

OUTBOX = "outbox"
OUTBOX_AT = "outbox_at"
INTENTS = "outbox_intents"
# Written by earlier releases (sent marks); read once by `adopt_legacy`, ignored by models.
LEGACY_SENT, LEGACY_PENDING = "outbox_sent", "outbox_pending"
OUTBOX_FIELDS = frozenset({"_id", OUTBOX, OUTBOX_AT, LEGACY_SENT, LEGACY_PENDING, REV})  # no model sees these
# The writer publishes right after its write: the relay leaves it that long to do so.
RELAY_GRACE = timedelta(seconds=5)
# An intent whose events never reached their document: its write was lost (a race) or is still on
# its way. Dropped only once no write can still land (PyMongo gives up on an operation long before).
ABANDONED = timedelta(minutes=10)
Document = dict[str, Any]


def entries(events: Iterable[Event]) -> list[Document]:
    # Payloads are kept as text: a JSON payload may hold keys a document store would refuse.
    return [
        {"id": e.id, "type": e.type, "subject": e.nats_subject(), "payload": e.model_dump_json()}
        for e in events
    ]


def with_outbox(document: Document, events: Iterable[Event]) -> Document:
    """A new document plus its events, to be inserted in one go (at revision 0 unless it has one)."""
    return {REV: 0, **document, OUTBOX: entries(events), OUTBOX_AT: datetime.now(UTC)}


def appended(events: Iterable[Event]) -> tuple[Document, dict[str, list[Document]]]:
    """What a revision write (shared.revisions) sets and pushes to add `events` to a document's outbox."""
    return {OUTBOX_AT: datetime.now(UTC)}, {OUTBOX: entries(events)}


def intents_of(collection: AsyncCollection[Document]) -> AsyncCollection[Document]:
    return collection.database[INTENTS]


def intent(
    collection: AsyncCollection[Document], doc_id: Any, event_ids: Sequence[str], at: datetime
) -> Document:
    return {
        "_id": f"{collection.name}:{doc_id}:{event_ids[0]}",
        "collection": collection.name,
        "doc": doc_id,
        "events": list(event_ids),
        "at": at,
    }


async def intend(collection: AsyncCollection[Document], doc_id: Any, events: Sequence[Event]) -> str:
    """Before the write that holds `events`: the relay's record that they are to be published."""
    record = intent(collection, doc_id, [e.id for e in events], datetime.now(UTC))
    await intents_of(collection).insert_one(record)
    return str(record["_id"])


async def forget(collection: AsyncCollection[Document], intent_id: str) -> None:
    """The write did not happen (it lost a race): nothing to publish. Left behind, the relay drops it."""
    try:
        await intents_of(collection).delete_one({"_id": intent_id})
    except PyMongoError as exc:
        log.warning("outbox intent %s not deleted: %r", intent_id, exc)


async def publish_entries(outbox: Iterable[Document], publisher: EventPublisher) -> int:
    """Publish, in order, the entries this process has not seen acknowledged; returns how many."""
    sent = 0
    for entry in outbox:  # in order: one document's events must arrive as they happened
        if not publisher.acknowledged(entry["id"]):
            await publisher.publish_raw(
                entry["type"], entry["subject"], entry["payload"].encode(), entry["id"]
            )
            sent += 1
    return sent


async def publish_now_or_later(
    events: Sequence[Event], publisher: EventPublisher, collection: AsyncCollection[Document], intent_id: str
) -> None:
    """Publish the events just written, then delete their intent; if JetStream does not answer, the
    intent stays and the relay publishes them: the write holds them, so nothing is lost."""
    try:
        await publish_entries(entries(events), publisher)
    except PublishFailed:
        log.warning("%d events saved; they wait in the outbox for the relay", len(events))
        return
    await forget(collection, intent_id)


async def write_then_publish(
    collection: AsyncCollection[Document],
    doc_id: Any,
    events: Sequence[Event],
    publisher: EventPublisher,
    write: Callable[[], Awaitable[object]],
) -> bool:
    """Intent, write, publish; False when `write` returned False (a lost revision: nothing written,
    nothing sent). An exception of `write` propagates; the intent is forgotten only for a duplicate
    key, a refusal. Any other failure (a timeout, a lost connection, a cancelled task) may come after
    the write landed, or after a revision claim that the next writer applies: the relay decides.
    """
    if not events:
        return await write() is not False
    intent_id = await intend(collection, doc_id, events)
    try:
        written = await write()
    except DuplicateKeyError:
        await forget(collection, intent_id)
        raise
    if written is False:
        await forget(collection, intent_id)
        return False
    await publish_now_or_later(events, publisher, collection, intent_id)
    return True


def relay_grace(duplicate_window: timedelta) -> timedelta:
    """How long the relay leaves a writer to publish: never more than a quarter of the window."""
    return min(RELAY_GRACE, duplicate_window / 4)


async def relay_once(
    collections: Sequence[AsyncCollection[Document]],
    publisher: EventPublisher,
    grace: timedelta = RELAY_GRACE,
) -> int:
    """One round over the intents left behind by writers that died or could not publish."""
    if not collections:
        return 0
    by_name = {c.name: c for c in collections}
    intents = intents_of(collections[0])
    now, sent = datetime.now(UTC), 0
    for intent in await intents.find({"at": {"$lt": now - grace}}, sort=[("at", ASCENDING)]).to_list():
        collection = by_name.get(intent["collection"])
        if collection is None:
            continue  # another service's, in a shared database
        waiting = await _entries(collection, intent)
        if not waiting and await apply_pending(collection, intent["doc"]):
            waiting = await _entries(collection, intent)  # a claimed write whose writer died, applied now
        if waiting:
            sent += await publish_entries(waiting, publisher)
        elif intent["at"] > now - ABANDONED:
            continue  # the write may still land
        await intents.delete_one({"_id": intent["_id"]})
    return sent


async def _entries(collection: AsyncCollection[Document], intent: Document) -> list[Document]:
    doc = await collection.find_one({"_id": intent["doc"]}, {OUTBOX: 1})
    wanted = set(intent["events"])
    return [e for e in (doc or {}).get(OUTBOX, []) if e["id"] in wanted]


async def relay_forever(
    collections: Sequence[AsyncCollection[Document]],
    publisher: EventPublisher,
    interval: float,
    duplicate_window: timedelta,
) -> None:
    """Runs for the life of the service; a failed round is logged and tried again."""
    grace = relay_grace(duplicate_window)
    indexed = False
    while True:
        try:
            if not indexed and collections:
                await intents_of(collections[0]).create_index([("at", ASCENDING)])
                indexed = True
            sent = await relay_once(collections, publisher, grace)
            if sent:
                log.info("outbox relay published %d events not acknowledged in this process", sent)
        except (PublishFailed, OSError) as exc:
            log.warning("outbox relay round failed: %r", exc)
        except Exception:
            log.exception("outbox relay round failed")
        await asyncio.sleep(interval)


async def adopt_legacy(collections: Sequence[AsyncCollection[Document]]) -> int:
    """Give intents to the unsent events of documents written by the previous release; returns how many
    documents it adopted.

    That release marked entries sent on the document (`outbox_sent`, and `outbox_pending` while some
    were not); this one reads only intents. Each adopted document is marked all sent, which this
    release ignores and a replica of the previous release still running during an upgrade reads as
    nothing to publish (removing the marks would make it publish the whole outbox again). Run at
    start-up, before the relay; a collection found clean is not read again.
    """
    adopted = 0
    for collection in collections:
        done = f"legacy-adopted:{collection.name}"  # no `at`: the relay never reads it
        if await intents_of(collection).find_one({"_id": done}):
            continue
        await collection.update_many({REV: {"$exists": False}}, {"$set": {REV: 0}})
        complete = True
        async for doc in collection.find({LEGACY_PENDING: True}, {OUTBOX: 1, LEGACY_SENT: 1, REV: 1}):
            outbox = doc.get(OUTBOX, [])
            unsent = [e["id"] for e in outbox[doc.get(LEGACY_SENT, 0) :]]
            if unsent:
                record = intent(collection, doc["_id"], unsent, datetime.now(UTC) - RELAY_GRACE)
                fields = {k: v for k, v in record.items() if k != "_id"}
                await intents_of(collection).update_one(
                    {"_id": record["_id"]}, {"$setOnInsert": fields}, upsert=True
                )
            all_sent = {LEGACY_SENT: len(outbox), LEGACY_PENDING: False}
            if await write_revision(collection, doc["_id"], doc.get(REV, 0), all_sent):
                adopted += 1
            else:
                complete = False  # changed meanwhile (by an old replica): adopted at the next start
        if complete:
            await intents_of(collection).update_one({"_id": done}, {"$set": {"kind": "marker"}}, upsert=True)
    return adopted
