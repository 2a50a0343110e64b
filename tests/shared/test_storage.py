"""Storage and the outbox against the real document store."""

from datetime import UTC, datetime, time, timedelta

from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.meetings import MeetingScheduled, MeetingScheduledData
from deploy.local.stack import Stack
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher
from shared.outbox import (
    OUTBOX_AT,
    adopt_unmarked,
    appended,
    entries,
    publish_now_or_later,
    relay_once,
    with_outbox,
)
from shared.revisions import write_revision
from shared.storage import OrgCollection


async def test_an_organization_sees_only_its_own_documents(scratch_db: AsyncDatabase) -> None:
    a, b = OrgCollection(scratch_db.things, "org-a"), OrgCollection(scratch_db.things, "org-b")
    await a.insert_one({"_id": "1", "name": "a's"})
    await b.insert_one({"_id": "2", "name": "b's", "org": "org-a"})  # a forged org is overwritten
    assert [d["_id"] for d in await a.find({})] == ["1"]
    assert await a.find_one({"_id": "2"}) is None
    assert await b.find_one_and_update({"_id": "1"}, {"$set": {"name": "stolen"}}) is None
    assert (await a.find_one({"_id": "1"}) or {})["name"] == "a's"
    assert await b.count() == 1


async def test_the_relay_publishes_events_a_crashed_writer_left_behind(
    stack: Stack, scratch_db: AsyncDatabase, admin_nc: NatsClient
) -> None:
    broker = make_broker(stack.settings("meetings"))
    publisher = EventPublisher(broker, [MeetingScheduled])
    await broker.start()
    try:
        event = MeetingScheduled.create(
            source="meetings",
            org="org-a",
            subject="m9",
            data=MeetingScheduledData(
                meeting_id="m9", name="Left behind", day=2, time=time(8), timezone="UTC"
            ),
        )
        # The writer stored the document and died before publishing.
        doc = with_outbox({"_id": "m9", "org": "org-a"}, [event])
        doc[OUTBOX_AT] = datetime.now(UTC) - timedelta(minutes=1)
        await scratch_db.meetings.insert_one(doc)

        assert await relay_once([scratch_db.meetings], publisher) == 1
        assert await relay_once([scratch_db.meetings], publisher) == 0  # acknowledged now
        # A restarted process remembers nothing, and the document says the event is sent: no second copy.
        restarted = EventPublisher(broker, [MeetingScheduled])
        assert await relay_once([scratch_db.meetings], restarted) == 0

        js = admin_nc.jetstream()  # the meetings user may publish, not read the stream back
        stored = await js.get_last_msg("MEETINGS", "rn.org-a.meetings.scheduled.v1")
        assert MeetingScheduled.model_validate_json(stored.data or b"").id == event.id
        assert stored.headers and stored.headers["Nats-Msg-Id"] == event.id
    finally:
        await broker.stop()


def scheduled(meeting_id: str, name: str) -> MeetingScheduled:
    data = MeetingScheduledData(meeting_id=meeting_id, name=name, day=2, time=time(8), timezone="UTC")
    return MeetingScheduled.create(source="meetings", org="org-a", subject=meeting_id, data=data)


async def test_a_later_change_of_a_document_publishes_only_its_own_events_even_after_a_restart(
    stack: Stack, scratch_db: AsyncDatabase
) -> None:
    broker = make_broker(stack.settings("meetings"))
    await broker.start()
    try:
        first, second = scheduled("m10", "First"), scheduled("m10", "Second")
        writer = EventPublisher(broker, [MeetingScheduled])
        doc = with_outbox({"_id": "m10", "org": "org-a"}, [first])
        doc[OUTBOX_AT] = datetime.now(UTC) - timedelta(minutes=1)
        await scratch_db.meetings.insert_one(doc)
        await publish_now_or_later([first], writer)
        # The writer's relay marks what the writer published, without publishing it again.
        assert await relay_once([scratch_db.meetings], writer) == 0

        # Another process appends an event, and dies before publishing it; it landed long after its stamp.
        stamp, pending = appended([second])
        stamp[OUTBOX_AT] = datetime.now(UTC) - timedelta(hours=1)
        assert await write_revision(scratch_db.meetings, "m10", 1, stamp, pending)

        restarted = EventPublisher(broker, [MeetingScheduled])
        assert await relay_once([scratch_db.meetings], restarted) == 1
        assert restarted.acknowledged(second.id) and not restarted.acknowledged(first.id)
        assert await relay_once([scratch_db.meetings], EventPublisher(broker, [MeetingScheduled])) == 0
    finally:
        await broker.stop()


async def test_documents_from_before_sent_marks_publish_only_their_recent_events_again(
    scratch_db: AsyncDatabase,
) -> None:
    old, recent = scheduled("m11", "Old"), scheduled("m11", "Recent")
    old = old.model_copy(update={"time": datetime.now(UTC) - timedelta(days=2)})
    # As the previous release wrote them: no rev, no sent mark.
    legacy = {"_id": "m11", "org": "org-a", "outbox": entries([old, recent]), OUTBOX_AT: datetime.now(UTC)}
    settled = {"_id": "m12", "org": "org-a", "outbox": entries([old]), OUTBOX_AT: old.time}
    await scratch_db.meetings.insert_many([legacy, settled])

    assert await adopt_unmarked([scratch_db.meetings], window=timedelta(minutes=2)) == 2
    assert await adopt_unmarked([scratch_db.meetings], window=timedelta(minutes=2)) == 0
    marks = {
        d["_id"]: (d["rev"], d["outbox_sent"], d["outbox_pending"]) async for d in scratch_db.meetings.find()
    }
    assert marks == {"m11": (0, 1, True), "m12": (0, 1, False)}  # only "Recent" waits for the relay
