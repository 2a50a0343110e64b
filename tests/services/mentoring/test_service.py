"""Matching against the real document store and nats-server."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.ids import new_id
from contracts.mentoring import MatchProposed
from deploy.local.stack import Stack
from services.mentoring import model, service, store
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher


@pytest.fixture
async def db(scratch_db: AsyncDatabase) -> AsyncDatabase:
    await store.ensure_indexes(scratch_db)
    return scratch_db


@pytest.fixture
async def publisher(stack: Stack) -> AsyncIterator[EventPublisher]:
    broker = make_broker(stack.settings("mentoring"))
    pub = EventPublisher(broker, [MatchProposed])
    await broker.start()
    yield pub
    await broker.stop()


async def test_claiming_a_slot_and_announcing_the_match_happen_together_and_capacity_holds(
    db: AsyncDatabase, publisher: EventPublisher, admin_nc: NatsClient
) -> None:
    org = f"org-{new_id()[-6:]}"
    await service.register_mentor(db, model.Mentor("mentor-1", org, capacity=1))

    first = await service.request_mentor(
        db, publisher, model.MentorRequest(id=new_id(), org=org, member_id="m1")
    )
    second = await service.request_mentor(
        db, publisher, model.MentorRequest(id=new_id(), org=org, member_id="m2")
    )

    assert first is not None and first.mentor_id == "mentor-1"
    assert second is None
    mentor = await db.mentors.find_one({"org": org, "mentor_id": "mentor-1"})
    assert mentor is not None and mentor["active_mentees"] == 1
    assert [e["type"] for e in mentor["outbox"]] == ["mentoring.match_proposed.v1"]  # the one claim's event
    assert await db.outbox_intents.count_documents({"doc": mentor["_id"]}) == 0  # published, so settled
    stored = await admin_nc.jetstream().get_last_msg("MENTORING", f"rn.{org}.mentoring.match_proposed.v1")
    assert MatchProposed.model_validate_json(stored.data or b"").data.match_id == first.id
    waiting = await service.get_request(
        db, org, (await db.requests.find_one({"member_id": "m2"}) or {})["_id"]
    )
    assert waiting is not None and waiting["status"] == "waiting"


async def test_registering_a_mentor_again_keeps_their_mentees(
    db: AsyncDatabase, publisher: EventPublisher
) -> None:
    org = f"org-{new_id()[-6:]}"
    await service.register_mentor(db, model.Mentor("mentor-1", org, capacity=2))
    await service.request_mentor(db, publisher, model.MentorRequest(id=new_id(), org=org, member_id="m1"))
    again = await service.register_mentor(db, model.Mentor("mentor-1", org, capacity=3, focus=("family",)))
    assert (again.capacity, again.active_mentees, again.focus) == (3, 1, ("family",))


async def test_requests_racing_for_a_mentors_last_slot_match_once(
    db: AsyncDatabase, publisher: EventPublisher
) -> None:
    org = f"org-{new_id()[-6:]}"
    await service.register_mentor(db, model.Mentor("mentor-1", org, capacity=2))
    requests = [model.MentorRequest(id=new_id(), org=org, member_id=f"m{i}") for i in range(6)]
    matches = await asyncio.gather(*(service.request_mentor(db, publisher, r) for r in requests))
    assert sum(m is not None for m in matches) == 2
    mentor = await db.mentors.find_one({"org": org, "mentor_id": "mentor-1"})
    assert mentor is not None and mentor["active_mentees"] == 2 and len(mentor["outbox"]) == 2
