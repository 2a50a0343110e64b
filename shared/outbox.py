"""The outbox: a state change and its events are written in one single-document write.

A document carries its events in an `outbox` array and the time of the write in `outbox_at`.
Right after the write the writer publishes them. If it dies first, the relay loop publishes them:
each round it reads the documents written since its last round (a watermark kept in the
database, so a restart resumes where the last round ended) and publishes every event this
process has not seen acknowledged, with the same ids, which JetStream de-duplicates.

Entries stay in the document once published: marking them would be one more write per change,
on a path where the writes are most of the cost, and the watermark finds what may be unsent
without it.
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
# The writer publishes right after its write; the relay leaves younger outboxes to it, and each
# round looks this far behind its watermark, for writes that took long between stamp and commit.
RELAY_GRACE = timedelta(seconds=5)
RELAY_PROGRESS = "outbox_relay"  # one document per collection: the watermark
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


def appended(events: Iterable[Event]) -> tuple[Document, dict[str, list[Document]]]:
    """What a revision write (shared.revisions) sets and pushes to add `events` to a document's outbox."""
    return {OUTBOX_AT: datetime.now(UTC)}, {OUTBOX: entries(events)}


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


async def relay_once(collections: Sequence[AsyncCollection[Document]], publisher: EventPublisher) -> int:
    """One round over the writes since the last round; the watermark moves only after a full round."""
    sent = 0
    for collection in collections:
        progress = collection.database[RELAY_PROGRESS]
        mark = await progress.find_one({"_id": collection.name})
        cutoff = datetime.now(UTC) - RELAY_GRACE
        window: Document = {OUTBOX_AT: {"$lt": cutoff}}
        if mark:
            window[OUTBOX_AT]["$gte"] = mark["until"] - RELAY_GRACE
        async for doc in collection.find(window, {OUTBOX: 1}, sort=[(OUTBOX_AT, 1)]):
            sent += await publish_entries(doc.get(OUTBOX, []), publisher)
        await progress.update_one({"_id": collection.name}, {"$set": {"until": cutoff}}, upsert=True)
    return sent


async def relay_forever(
    collections: Sequence[AsyncCollection[Document]], publisher: EventPublisher, interval: float
) -> None:
    """Runs for the life of the service; a failed round is logged and tried again."""
    while True:
        try:
            sent = await relay_once(collections, publisher)
            if sent:
                log.info("outbox relay published %d events not acknowledged in this process", sent)
        except (PublishFailed, OSError) as exc:
            log.warning("outbox relay round failed: %r", exc)
        except Exception:
            log.exception("outbox relay round failed")
        await asyncio.sleep(interval)


async def publish_now_or_later(events: Sequence[Event], publisher: EventPublisher) -> None:
    """Publish the events just written; if JetStream does not answer, the relay publishes them later.

    The write already holds the events, so a failure here delays them but loses nothing.
    """
    try:
        await publish_entries(entries(events), publisher)
    except PublishFailed:
        log.warning("%d events saved; they wait in the outbox for the relay", len(events))
