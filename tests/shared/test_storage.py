"""Storage and the outbox against the real document store."""

import functools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.meetings import MeetingScheduled, MeetingScheduledData
from deploy.local.stack import Stack
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher
from shared.outbox import (
    ABANDONED,
    INTENTS,
    adopt_legacy,
    appended,
    entries,
    intend,
    relay_once,
    with_outbox,
    write_then_publish,
)
from shared.revisions import claims_of, write_revision
from shared.storage import OrgCollection


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[NatsBroker]:
    """A started broker of the meetings service, whose events these tests publish."""
    started = make_broker(stack.settings("meetings"))
    await started.start()
    yield started
    await started.stop()


async def test_an_organization_sees_only_its_own_documents(scratch_db: AsyncDatabase) -> None:
    a, b = OrgCollection(scratch_db.things, "org-a"), OrgCollection(scratch_db.things, "org-b")
    await a.insert_one({"_id": "1", "name": "a's"})
    await b.insert_one({"_id": "2", "name": "b's", "org": "org-a"})  # a forged org is overwritten
    assert [d["_id"] for d in await a.find({})] == ["1"]
    assert await a.find_one({"_id": "2"}) is None
    assert await b.find_one_and_update({"_id": "1"}, {"$set": {"name": "stolen"}}) is None
    assert (await a.find_one({"_id": "1"}) or {})["name"] == "a's"
    assert await b.count() == 1


def scheduled(meeting_id: str, name: str) -> MeetingScheduled:
    data = MeetingScheduledData(
        meeting_id=meeting_id, slug=meeting_id, name=name, timezone="UTC", attendance_option="in_person"
    )
    return MeetingScheduled.create(source="meetings", org="org-a", subject=meeting_id, data=data)


async def age_intents(db: AsyncDatabase, by: timedelta) -> None:
    """As if every intent had been written `by` ago (the relay leaves young ones to their writer)."""
    await db[INTENTS].update_many({"at": {"$exists": True}}, {"$set": {"at": datetime.now(UTC) - by}})


async def test_the_relay_publishes_events_a_crashed_writer_left_behind(
    broker: NatsBroker, scratch_db: AsyncDatabase, admin_nc: NatsClient
) -> None:
    publisher = EventPublisher(broker, [MeetingScheduled])
    event = scheduled("m9", "Left behind")
    # The writer recorded its intent, stored the document and died before publishing.
    await intend(scratch_db.meetings, "m9", [event])
    await scratch_db.meetings.insert_one(with_outbox({"_id": "m9", "org": "org-a"}, [event]))
    assert await relay_once([scratch_db.meetings], publisher) == 0  # young: its writer may still publish
    await age_intents(scratch_db, timedelta(minutes=1))

    assert await relay_once([scratch_db.meetings], publisher) == 1
    # The intent is gone: neither this process nor a restarted one publishes a second copy.
    assert await relay_once([scratch_db.meetings], EventPublisher(broker, [MeetingScheduled])) == 0
    assert await scratch_db[INTENTS].count_documents({}) == 0

    js = admin_nc.jetstream()  # the meetings user may publish, not read the stream back
    stored = await js.get_last_msg("MEETINGS", "rn.org-a.meetings.scheduled.v2")
    assert MeetingScheduled.model_validate_json(stored.data or b"").id == event.id
    assert stored.headers and stored.headers["Nats-Msg-Id"] == event.id


async def test_a_later_change_of_a_document_publishes_only_its_own_events_even_after_a_restart(
    broker: NatsBroker, scratch_db: AsyncDatabase
) -> None:
    first, second = scheduled("m10", "First"), scheduled("m10", "Second")
    writer = EventPublisher(broker, [MeetingScheduled])
    doc = with_outbox({"_id": "m10", "org": "org-a"}, [first])
    insert = functools.partial(scratch_db.meetings.insert_one, doc)
    assert await write_then_publish(scratch_db.meetings, "m10", [first], writer, insert)
    assert writer.acknowledged(first.id)
    assert await scratch_db[INTENTS].count_documents({}) == 0  # published: nothing for the relay

    # Another process appends an event, and dies before publishing it.
    stamp, pending = appended([second])
    await intend(scratch_db.meetings, "m10", [second])
    assert await write_revision(scratch_db.meetings, "m10", 0, stamp, pending)
    await age_intents(scratch_db, timedelta(hours=1))

    restarted = EventPublisher(broker, [MeetingScheduled])
    assert await relay_once([scratch_db.meetings], restarted) == 1
    assert restarted.acknowledged(second.id) and not restarted.acknowledged(first.id)
    assert await relay_once([scratch_db.meetings], EventPublisher(broker, [MeetingScheduled])) == 0


async def test_an_intent_whose_write_never_landed_is_kept_while_it_may_and_then_dropped(
    broker: NatsBroker, scratch_db: AsyncDatabase
) -> None:
    publisher = EventPublisher(broker, [MeetingScheduled])
    await intend(scratch_db.meetings, "m13", [scheduled("m13", "Never written")])
    await age_intents(scratch_db, ABANDONED / 2)
    assert await relay_once([scratch_db.meetings], publisher) == 0
    assert await scratch_db[INTENTS].count_documents({}) == 1  # the write may still land
    await age_intents(scratch_db, ABANDONED * 2)
    assert await relay_once([scratch_db.meetings], publisher) == 0
    assert await scratch_db[INTENTS].count_documents({}) == 0


async def test_documents_with_sent_marks_get_intents_for_their_unsent_events_once(
    scratch_db: AsyncDatabase,
) -> None:
    old, recent = scheduled("m11", "Old"), scheduled("m11", "Recent")
    # As the previous release wrote them: entries marked sent on the document.
    waiting = {
        "_id": "m11",
        "org": "org-a",
        "rev": 2,
        "outbox": entries([old, recent]),
        "outbox_sent": 1,
        "outbox_pending": True,
    }
    settled = {
        "_id": "m12",
        "org": "org-a",
        "rev": 1,
        "outbox": entries([old]),
        "outbox_sent": 1,
        "outbox_pending": False,
    }
    await scratch_db.meetings.insert_many([waiting, settled])

    assert await adopt_legacy([scratch_db.meetings]) == 1  # "m12" has nothing unsent
    assert await adopt_legacy([scratch_db.meetings]) == 0
    intents = [i async for i in scratch_db[INTENTS].find({"at": {"$exists": True}})]
    assert [(i["doc"], i["events"]) for i in intents] == [("m11", [recent.id])]  # only "Recent" waits
    # Marked all sent, as a replica of the previous release still running reads it: nothing to publish.
    marks = {d["_id"]: (d["outbox_sent"], d["outbox_pending"]) async for d in scratch_db.meetings.find()}
    assert marks == {"m11": (2, False), "m12": (1, False)}


async def test_a_write_that_fails_after_it_landed_keeps_its_intent_and_the_relay_publishes_it(
    broker: NatsBroker, scratch_db: AsyncDatabase
) -> None:
    event = scheduled("m14", "Landed, then the connection broke")

    async def write() -> bool:
        await scratch_db.meetings.insert_one(with_outbox({"_id": "m14", "org": "org-a"}, [event]))
        raise OSError("connection reset")  # as a timeout or a lost connection after the server wrote

    with pytest.raises(OSError):
        await write_then_publish(scratch_db.meetings, "m14", [event], EventPublisher(broker, []), write)
    assert await scratch_db[INTENTS].count_documents({}) == 1  # not forgotten: it may have landed
    await age_intents(scratch_db, timedelta(minutes=1))
    assert await relay_once([scratch_db.meetings], EventPublisher(broker, [MeetingScheduled])) == 1


async def test_the_relay_applies_a_claimed_write_whose_writer_died_and_publishes_its_events(
    broker: NatsBroker, scratch_db: AsyncDatabase
) -> None:
    event = scheduled("m15", "Claimed, never applied")
    await scratch_db.meetings.insert_one({"_id": "m15", "org": "org-a", "rev": 0})
    # The writer won revision 1 (its claim holds the write) and died before applying it.
    stamp, pending = appended([event])
    await intend(scratch_db.meetings, "m15", [event])
    await claims_of(scratch_db.meetings).insert_one(
        {"_id": "m15:0", "at": datetime.now(UTC), "set": stamp, "push": pending}
    )
    await age_intents(scratch_db, ABANDONED * 2)  # long after: nobody wrote the document since
    assert await relay_once([scratch_db.meetings], EventPublisher(broker, [MeetingScheduled])) == 1
    doc = await scratch_db.meetings.find_one({"_id": "m15"})
    assert doc is not None and doc["rev"] == 1 and [e["id"] for e in doc["outbox"]] == [event.id]
