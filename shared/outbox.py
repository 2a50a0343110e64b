"""The outbox: a state change and its events are written in one single-document write.

A document carries its unpublished events in an `outbox` array. After the write they are
published and pulled from the array; if the process dies in between, the relay loop finds
them and publishes them again with the same ids, which JetStream de-duplicates.
"""

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from contracts.envelope import Event
from shared.messaging.publisher import EventPublisher, PublishFailed

log = logging.getLogger(__name__)

OUTBOX = "outbox"
OUTBOX_AT = "outbox_at"
OUTBOX_FIELDS = frozenset({"_id", OUTBOX, OUTBOX_AT})  # what a model never sees
# The writer publishes right after its write; the relay leaves younger outboxes to it.
RELAY_GRACE = timedelta(seconds=5)
Document = dict[str, Any]


def entries(events: Iterable[Event]) -> list[Document]:
    # Payloads are kept as text: a JSON payload may hold keys a document store would refuse.
    return [
        {"id": e.id, "type": e.type, "subject": e.nats_subject(), "payload": e.model_dump_json()}
        for e in events
    ]


def with_outbox(document: Document, events: Iterable[Event]) -> Document:
    """A new document plus its pending events, to be inserted in one go."""
    return {**document, OUTBOX: entries(events), OUTBOX_AT: datetime.now(UTC)}


def outbox_update(events: Iterable[Event]) -> Document:
    """Update operators that add events to an existing document's outbox, to merge into its update."""
    return {"$push": {OUTBOX: {"$each": entries(events)}}, "$set": {OUTBOX_AT: datetime.now(UTC)}}


async def flush(collection: AsyncCollection[Document], doc_id: Any, publisher: EventPublisher) -> int:
    """Publish what one document's outbox holds; returns how many were sent."""
    doc = await collection.find_one({"_id": doc_id}, {OUTBOX: 1})
    sent = 0
    for entry in (doc or {}).get(OUTBOX, []):
        await publisher.publish_raw(entry["type"], entry["subject"], entry["payload"].encode(), entry["id"])
        # Pull by whole value: FerretDB's $pull matches values, not sub-queries.
        await collection.update_one({"_id": doc_id}, {"$pull": {OUTBOX: entry}})
        sent += 1
    return sent


async def relay_once(collections: Sequence[AsyncCollection[Document]], publisher: EventPublisher) -> int:
    sent = 0
    for collection in collections:
        cutoff = datetime.now(UTC) - RELAY_GRACE
        pending = {f"{OUTBOX}.0": {"$exists": True}, OUTBOX_AT: {"$lt": cutoff}}
        async for doc in collection.find(pending, {"_id": 1}, limit=500):
            sent += await flush(collection, doc["_id"], publisher)
    return sent


async def relay_forever(
    collections: Sequence[AsyncCollection[Document]], publisher: EventPublisher, interval: float
) -> None:
    """Runs for the life of the service; a failed round is logged and tried again."""
    while True:
        try:
            sent = await relay_once(collections, publisher)
            if sent:
                log.warning("outbox relay published %d events left behind", sent)
        except (PublishFailed, OSError) as exc:
            log.warning("outbox relay round failed: %r", exc)
        except Exception:
            log.exception("outbox relay round failed")
        await asyncio.sleep(interval)


async def publish_now_or_later(
    collection: AsyncCollection[Document], doc_id: Any, publisher: EventPublisher
) -> None:
    """Publish right after the write; if JetStream does not answer, the relay publishes later.

    The write already holds the events, so a failure here delays them but loses nothing.
    """
    try:
        await flush(collection, doc_id, publisher)
    except PublishFailed:
        log.warning("document %s saved; its events wait in the outbox for the relay", doc_id)
