"""Keeps this process's directory (services/meetings/directory.py) current from the meetings events.

At start: note the MEETINGS stream's last sequence, load every active meeting, then read the stream
from just after that sequence with an ordered consumer. An event only says which meeting changed; the
meeting is read again by `_id` (written before its event is published, shared/outbox.py), so an event
seen twice, or one already reflected in the load, changes nothing. A replica that starts later loads
what the others have and follows the same events.
"""

import asyncio
import json
import logging
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from pymongo.errors import PyMongoError

from contracts.meetings import MeetingCancelled, MeetingChanged, MeetingScheduled, OccurrenceCancelled
from contracts.subjects import stream_name
from services.meetings import store
from services.meetings.directory import Directory
from services.meetings.store import Db

log = logging.getLogger(__name__)
# The events that change a listing; attendance events on the same stream are skipped.
LISTING_EVENTS = frozenset(e.model_fields["type"].default for e in (
    MeetingScheduled, MeetingChanged, MeetingCancelled, OccurrenceCancelled
))  # fmt: skip
LOAD_BATCH = 1000


async def load(db: Db, directory: Directory) -> int:
    """Every active meeting of the network, read in one pass, with its next starts worked out (in
    slices, so the process keeps answering meanwhile) rather than by the first searches."""
    cursor = db.meetings.find({"status": "active"}, batch_size=LOAD_BATCH)
    directory.replace_all([store.from_doc(d) async for d in cursor])
    now = datetime.now(UTC)
    for n, entry in enumerate(list(directory.entries.values())):
        entry.next_start(now)
        if n % 200 == 0:
            await asyncio.sleep(0)
    return len(directory)


async def apply(db: Db, directory: Directory, body: bytes) -> None:
    event = json.loads(body)
    if event.get("type") not in LISTING_EVENTS:
        return
    doc = await store.meeting_doc(db, event["subject"])
    if doc is None:
        directory.remove(event["subject"])
    else:
        directory.put(store.from_doc(doc))


async def apply_patiently(db: Db, directory: Directory, body: bytes, attempts: int = 5) -> None:
    """Apply one event, waiting out a database that does not answer for a moment; raises when it cannot,
    and the caller loads the whole directory again (an event skipped could leave a cancelled meeting
    listed)."""
    for attempt in range(attempts - 1):
        try:
            await apply(db, directory, body)
            return
        except (OSError, PyMongoError):
            await asyncio.sleep(0.5 * 2**attempt)
    await apply(db, directory, body)


async def keep_current(db: Db, connection: Client, directory: Directory, ready: asyncio.Event) -> None:
    """Load, then follow the stream, for the life of the process; after any failure, load again."""
    pause = 1.0
    while True:
        try:
            await load_and_follow(db, connection, directory, ready)
        except Exception:
            # Searches keep answering from what is loaded (if anything) while this starts over.
            log.exception("directory: following the meetings events failed; loading again in %.0f s", pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 60.0)


async def load_and_follow(db: Db, connection: Client, directory: Directory, ready: asyncio.Event) -> None:
    js = connection.jetstream()
    stream = stream_name("meetings")
    last = (await js.stream_info(stream)).state.last_seq
    count = await load(db, directory)
    log.info("directory: %d meetings loaded, following %s from sequence %d", count, stream, last + 1)
    ready.set()
    changes: asyncio.Queue[Msg] = asyncio.Queue()
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1)
    sub = await js.subscribe(
        "rn.*.meetings.>", stream=stream, ordered_consumer=True, config=config, cb=changes.put
    )
    try:
        while True:
            msg = await changes.get()
            await apply_patiently(db, directory, msg.data)
    finally:
        await sub.unsubscribe()
