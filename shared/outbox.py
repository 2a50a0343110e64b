"""The outbox: a state change and its events are written in one single-document write.

A document carries its events in an `outbox` array, how many of them (from the start) are
published in `outbox_sent`, and `outbox_pending` while some are not. Right after the write the
writer publishes its events. The relay loop finds documents by `outbox_pending` (whenever their
write landed) once they are `RELAY_GRACE` old, publishes what is unsent and this process has not
seen acknowledged (an event the writer did publish is published again with the same id, and
JetStream's duplicate window drops it), and marks the entries sent.

An event leaves the outbox once: once marked, no restart, replica or later change of the document
publishes it again (JetStream's duplicate window is two minutes, a case lives for days). The mark
comes at most a grace and a round after the write, both held well inside the window (`relay_grace`,
and the settings' check of the round), so the relay's copy of an event its writer published is
dropped by JetStream. It is a revision write (shared.revisions), like every change of these
documents, so it never overwrites a concurrent change on a store without atomic updates. One case
remains where an event goes out twice: its writer died after publishing and no relay of any replica
ran for the whole window (every replica down that long); a consumer's idempotence then absorbs it.

Measured: the relay that looked for documents by the time of their write, and republished whatever
its process had not seen acknowledged, lost events whose write landed late and published old events
again after a restart (the fault suite). A mark written by the writer itself, right after each
write, made an alert 40 times slower at 50/s on the local store (p50 86 ms -> 3.3 s,
`bench/crisis_latency.py --rates 50`): one read and two writes more per change, on the hot path.
The relay marks a busy document once per round instead.
"""

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from contracts.envelope import Event
from shared.messaging.publisher import EventPublisher, PublishFailed
from shared.revisions import REV, write_revision

log = logging.getLogger(__name__)

OUTBOX = "outbox"
OUTBOX_AT = "outbox_at"
OUTBOX_SENT = "outbox_sent"
OUTBOX_PENDING = "outbox_pending"
OUTBOX_FIELDS = frozenset({"_id", OUTBOX, OUTBOX_AT, OUTBOX_SENT, OUTBOX_PENDING, REV})  # no model sees these
# The writer publishes right after its write: the relay leaves it that long to do so.
RELAY_GRACE = timedelta(seconds=5)
MARK_ATTEMPTS = 3  # a document changing this often is marked by a later round
Document = dict[str, Any]


def entries(events: Iterable[Event]) -> list[Document]:
    # Payloads are kept as text: a JSON payload may hold keys a document store would refuse.
    return [
        {"id": e.id, "type": e.type, "subject": e.nats_subject(), "payload": e.model_dump_json()}
        for e in events
    ]


def with_outbox(document: Document, events: Iterable[Event]) -> Document:
    """A new document plus its pending events, to be inserted in one go (at revision 0 unless it has one)."""
    pending = {OUTBOX: entries(events), OUTBOX_AT: datetime.now(UTC), OUTBOX_SENT: 0, OUTBOX_PENDING: True}
    return {REV: 0, **document, **pending}


def appended(events: Iterable[Event]) -> tuple[Document, dict[str, list[Document]]]:
    """What a revision write (shared.revisions) sets and pushes to add `events` to a document's outbox."""
    return {OUTBOX_AT: datetime.now(UTC), OUTBOX_PENDING: True}, {OUTBOX: entries(events)}


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


async def settle(collection: AsyncCollection[Document], doc_id: Any, publisher: EventPublisher) -> int:
    """Publish, in order, what of one document's outbox is not marked sent, then mark it; returns how many
    were published (events this process saw acknowledged are not sent again)."""
    sent = 0
    for _ in range(MARK_ATTEMPTS):
        doc = await collection.find_one(
            {"_id": doc_id}, {OUTBOX: 1, OUTBOX_SENT: 1, OUTBOX_PENDING: 1, REV: 1}
        )
        if doc is None or not doc.get(OUTBOX_PENDING):
            return sent
        outbox = doc.get(OUTBOX, [])
        sent += await publish_entries(outbox[doc.get(OUTBOX_SENT, 0) :], publisher)
        marked = {OUTBOX_SENT: len(outbox), OUTBOX_PENDING: False}
        if await write_revision(collection, doc_id, doc.get(REV, 0), marked):
            return sent
    return sent


def relay_grace(duplicate_window: timedelta) -> timedelta:
    """How long the relay leaves a writer to publish: never more than a quarter of the window."""
    return min(RELAY_GRACE, duplicate_window / 4)


async def relay_once(
    collections: Sequence[AsyncCollection[Document]],
    publisher: EventPublisher,
    grace: timedelta = RELAY_GRACE,
) -> int:
    """One round over the documents with unsent events, left by writers that died or could not publish."""
    sent = 0
    cutoff = datetime.now(UTC) - grace
    for collection in collections:
        query = {OUTBOX_PENDING: True, OUTBOX_AT: {"$lt": cutoff}}
        for doc in await collection.find(query, {"_id": 1}).to_list():
            sent += await settle(collection, doc["_id"], publisher)
    return sent


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
            if not indexed:
                for collection in collections:
                    await collection.create_index([(OUTBOX_PENDING, ASCENDING)])  # what every round asks for
                indexed = True
            sent = await relay_once(collections, publisher, grace)
            if sent:
                log.info("outbox relay published %d events not acknowledged in this process", sent)
        except (PublishFailed, OSError) as exc:
            log.warning("outbox relay round failed: %r", exc)
        except Exception:
            log.exception("outbox relay round failed")
        await asyncio.sleep(interval)


async def publish_now_or_later(events: Sequence[Event], publisher: EventPublisher) -> None:
    """Publish the events just written to the document; if JetStream does not answer, the relay does.

    The write already holds the events, so a failure here delays them but loses nothing; the relay
    marks them sent (see the module's docstring for why not here).
    """
    try:
        await publish_entries(entries(events), publisher)
    except PublishFailed:
        log.warning("%d events saved; they wait in the outbox for the relay", len(events))


async def adopt_unmarked(collections: Sequence[AsyncCollection[Document]], *, window: timedelta) -> int:
    """Give `outbox_sent` to documents written before entries were marked; returns how many.

    Without it, a document's next change would publish its whole history again. Run at start-up,
    before this process writes anything. Events younger than `window` (the stream's duplicate window)
    may not have been published by the old relay yet: they are published again, and JetStream drops
    the copies it already holds. Older ones count as sent.
    """
    adopted = 0
    recent = datetime.now(UTC) - window
    for collection in collections:
        await collection.update_many({REV: {"$exists": False}}, {"$set": {REV: 0}})
        query = {OUTBOX: {"$exists": True}, OUTBOX_SENT: {"$exists": False}}
        async for doc in collection.find(query, {OUTBOX: 1}):
            outbox = doc.get(OUTBOX, [])
            sent = sum(datetime.fromisoformat(json.loads(e["payload"])["time"]) < recent for e in outbox)
            pending = sent < len(outbox)
            await collection.update_one(
                {"_id": doc["_id"], OUTBOX_SENT: {"$exists": False}},
                {"$set": {OUTBOX_SENT: sent, OUTBOX_PENDING: pending}},
            )
            adopted += 1
    return adopted
