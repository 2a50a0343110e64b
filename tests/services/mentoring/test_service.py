"""Requests, proposals and matches against the real document store and nats-server."""

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.ids import new_id
from contracts.mentoring import MENTORING_EVENTS, MatchDeclined
from deploy.local.stack import Stack
from services.mentoring import model, service, store
from services.mentoring.settings import Settings
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


@pytest.fixture
async def db(scratch_db: AsyncDatabase) -> AsyncDatabase:
    await store.ensure_indexes(scratch_db)
    return scratch_db


@pytest.fixture
async def publisher(stack: Stack) -> AsyncIterator[EventPublisher]:
    broker = make_broker(stack.settings("mentoring"))
    pub = EventPublisher(broker, MENTORING_EVENTS)
    await broker.start()
    yield pub
    await broker.stop()


@pytest.fixture
def settings(stack: Stack) -> Settings:
    return Settings(jwt_public_key_file=stack.public_key, proposal_expires_after_hours=24)


def org() -> str:
    return f"org-{new_id()[-8:]}"


async def add_mentor(
    db: AsyncDatabase, org_id: str, mentor_id: str, capacity: int = 2, **fields: object
) -> None:
    await service.save_mentor(db, model.MentorProfile(mentor_id, org_id, capacity, **fields))  # type: ignore[arg-type]


async def ask(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings, org_id: str, member: str
) -> dict:
    request = model.Request(id=new_id(), org=org_id, member_id=member, requested_at=NOW)
    return await service.open_request(db, publisher, settings, request, NOW)


async def test_twenty_requests_at_once_never_push_three_mentors_past_their_capacity(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings, admin_nc: NatsClient
) -> None:
    o = org()
    for m in ("m1", "m2", "m3"):
        await add_mentor(db, o, m, capacity=2)

    members = await asyncio.gather(*(ask(db, publisher, settings, o, f"member-{i}") for i in range(20)))

    assert sorted(m["status"] for m in members).count("proposed") == 6
    for m in ("m1", "m2", "m3"):
        slots = await service.get_mentor(db, o, m)
        assert slots is not None and len(slots.held) == 2
        assert len({h.member_id for h in slots.held}) == 2
    waiting = await service.waiting_list(db, o)
    assert len(waiting) == 14
    # Each proposal went out once, with the slot that holds it.
    js = admin_nc.jetstream()
    sub = await js.subscribe(f"rn.{o}.mentoring.match_proposed.v1", ordered_consumer=True)
    seen = [json.loads((await sub.next_msg(timeout=5)).data)["data"]["match_id"] for _ in range(6)]
    await sub.unsubscribe()
    held = {h.match_id for m in ("m1", "m2", "m3") for h in (await service.get_mentor(db, o, m)).held}  # type: ignore[union-attr]
    assert sorted(seen) == sorted(held)


async def test_one_open_request_per_member(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await ask(db, publisher, settings, o, "sam")
    with pytest.raises(model.MatchConflict, match="open request"):
        await ask(db, publisher, settings, o, "sam")


async def test_a_decline_moves_the_member_to_the_next_candidate_and_never_back(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=2)
    await add_mentor(db, o, "b", capacity=1)
    first = await ask(db, publisher, settings, o, "sam")
    assert first["proposal"]["mentor_id"] == "a"  # more room

    await service.decline(db, publisher, settings, o, "a", first["proposal"]["match_id"], NOW)

    member = await service.get_member(db, o, "sam")
    assert member is not None and member["proposal"]["mentor_id"] == "b"
    assert member["excluded"] == ["a"]
    # Settling the decline again (the subscriber's copy) changes nothing.
    again = MatchDeclined.create(
        source="mentoring",
        org=o,
        subject=first["proposal"]["match_id"],
        data={
            "match_id": first["proposal"]["match_id"],
            "request_id": "x",
            "mentor_id": "a",
            "member_id": "sam",
        },
    )
    await service.settle(db, publisher, settings, again, NOW)
    assert (await service.get_member(db, o, "sam") or {})["proposal"]["mentor_id"] == "b"


async def test_an_unanswered_proposal_expires_when_its_timer_fires_and_the_next_candidate_gets_it(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=2)
    await add_mentor(db, o, "b", capacity=1)
    first = await ask(db, publisher, settings, o, "sam")
    match_id = first["proposal"]["match_id"]
    (entry,) = await store.timers(db).find({"match_id": match_id}).to_list()

    later = NOW + dt.timedelta(hours=24)
    await service.expire_due(db, publisher, settings, entry, later)
    await service.expire_due(db, publisher, settings, entry, later)  # a second replica fires it too

    a = await service.get_mentor(db, o, "a")
    assert a is not None and a.held == ()
    member = await service.get_member(db, o, "sam")
    assert member is not None and (member["status"], member["proposal"]["mentor_id"]) == ("proposed", "b")


async def test_accepting_then_ending_frees_the_slot_for_the_longest_waiting_member(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=1)
    sam = await ask(db, publisher, settings, o, "sam")
    kim = await ask(db, publisher, settings, o, "kim")
    assert kim["status"] == "waiting"

    await service.accept(db, publisher, settings, o, "a", sam["proposal"]["match_id"], NOW)
    pairing = await service.current_match(db, o, "sam")
    assert pairing is not None and pairing.mentor_id == "a"
    assert [p.member_id for p in await service.mentees_of(db, o, "a")] == ["sam"]

    await service.end(
        db, publisher, settings, o, pairing, "member", "goals_met", back_to_waiting=False, now=NOW
    )

    assert await service.current_match(db, o, "sam") is None
    kim_now = await service.get_member(db, o, "kim")
    assert kim_now is not None and (kim_now["status"], kim_now["proposal"]["mentor_id"]) == ("proposed", "a")
    sam_now = await service.get_member(db, o, "sam")
    assert sam_now is not None and sam_now["status"] == "idle"


async def test_withdrawing_a_proposal_frees_the_mentors_slot_and_closes_the_request(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=1)
    first = await ask(db, publisher, settings, o, "sam")
    assert first["status"] == "proposed"

    await service.withdraw(db, publisher, settings, o, "sam", NOW)

    a = await service.get_mentor(db, o, "a")
    assert a is not None and a.held == ()
    member = await service.get_member(db, o, "sam")
    assert member is not None and (member["status"], member["request"]) == ("idle", None)
    assert await store.timers(db).count_documents({"match_id": first["proposal"]["match_id"]}) == 0
    with pytest.raises(model.MatchConflict, match="no open request"):
        await service.withdraw(db, publisher, settings, o, "sam", NOW)


async def test_an_acceptance_settled_after_the_match_ended_leaves_the_member_free_not_matched(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    # The writer of the acceptance died before settling the member; the match ended; the relay's copy
    # of MatchAccepted arrives after MatchEnded (two consumers, no order between them).
    o = org()
    await add_mentor(db, o, "a", capacity=1)
    match_id = (await ask(db, publisher, settings, o, "sam"))["proposal"]["match_id"]
    accepted = await service._change_slots(db, publisher, o, "a", lambda s: model.accept(s, match_id, NOW))
    ended = await service._change_slots(
        db, publisher, o, "a", lambda s: model.end(s, match_id, "mentor", "other", True, NOW)
    )
    assert accepted is not None and ended is not None

    await service.settle(db, publisher, settings, ended.events[-1], NOW)  # type: ignore[arg-type]
    await service.settle(db, publisher, settings, accepted.events[-1], NOW)  # type: ignore[arg-type]

    member = await service.get_member(db, o, "sam")
    assert member is not None and member["status"] == "waiting" and member["excluded"] == ["a"]
    assert await service.current_match(db, o, "sam") is None


async def test_an_expiry_whose_writer_died_before_settling_moves_the_member_on_never_back(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=2)
    await add_mentor(db, o, "b", capacity=1)
    first = await ask(db, publisher, settings, o, "sam")
    match_id = first["proposal"]["match_id"]
    (entry,) = await store.timers(db).find({"match_id": match_id}).to_list()
    later = NOW + dt.timedelta(hours=24)
    # The mentor's side expired, then the process died: the timer fires again after the restart.
    await service._change_slots(db, publisher, o, "a", lambda s: model.expire(s, match_id, later))

    await service.expire_due(db, publisher, settings, entry, later)

    member = await service.get_member(db, o, "sam")
    assert member is not None and member["proposal"]["mentor_id"] == "b" and member["excluded"] == ["a"]


async def test_mentors_of_the_first_release_are_adopted_at_start(db: AsyncDatabase) -> None:
    await db.mentors.drop_indexes()
    await db.mentors.create_index([("org", 1), ("mentor_id", 1)], unique=True)
    await db.mentors.insert_one(
        {"org": "org-a", "mentor_id": "pat", "capacity": 20, "languages": ["es"], "focus": ["family"],
         "accepting": False, "active_mentees": 3}
    )  # fmt: skip

    await store.ensure_indexes(db)

    slots = await service.get_mentor(db, "org-a", "pat")
    assert slots is not None and slots.held == ()
    assert (slots.profile.capacity, slots.profile.lived_experience, slots.profile.paused) == (
        10,
        {"family"},
        True,
    )
    assert await db.mentors.count_documents({}) == 1
    await service.save_mentor(
        db, model.MentorProfile("pat", "org-a", 2)
    )  # no longer refused by the old index


async def test_a_batch_working_from_an_old_read_never_proposes_a_mentor_who_declined_since(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=1)
    first = await ask(db, publisher, settings, o, "sam")
    snapshot = {**first, "status": "waiting", "proposal": None, "excluded": []}  # a batch's read, before
    await service.decline(db, publisher, settings, o, "a", first["proposal"]["match_id"], NOW)

    member = await service.propose_next(db, publisher, settings, o, "sam", NOW, "a", member=snapshot)

    assert (member["status"], member["excluded"]) == ("waiting", ["a"])
    assert (await service.get_mentor(db, o, "a")).held == ()  # type: ignore[union-attr]


async def test_a_member_locked_on_a_proposal_its_writer_never_claimed_is_freed_by_the_claim_check(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=1, paused=True)
    await service.open_request(
        db, publisher, settings, model.Request(new_id(), o, "sam", requested_at=NOW), NOW
    )
    await add_mentor(db, o, "a", capacity=1)
    # A writer that locked the member on a proposal to a and died before claiming a's slot.
    await service._change_member(
        db, o, "sam", lambda m: {"status": "proposed", "proposal": {"match_id": "lost", "mentor_id": "a"}}
    )
    entry = {
        "_id": "claim:lost",
        "kind": "claim",
        "org": o,
        "member_id": "sam",
        "mentor_id": "a",
        "match_id": "lost",
    }

    await service.expire_due(db, publisher, settings, entry, NOW + service.CLAIM_CHECK_AFTER)

    member = await service.get_member(db, o, "sam")
    assert member is not None and member["status"] == "proposed" and member["proposal"]["mentor_id"] == "a"
    assert member["proposal"]["match_id"] != "lost"  # a real proposal this time, in a's document
    assert (await service.get_mentor(db, o, "a")).find(member["proposal"]["match_id"]) is not None  # type: ignore[union-attr]


async def test_a_proposal_whose_member_moved_on_cannot_be_accepted_and_frees_the_slot(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=1)
    match_id = (await ask(db, publisher, settings, o, "sam"))["proposal"]["match_id"]
    # Its writer failed after the claim landed and released the member, who then withdrew.
    await service._change_member(
        db, o, "sam", lambda m: {"status": "idle", "proposal": None, "request": None}
    )

    with pytest.raises(model.MatchConflict, match="no longer waiting"):
        await service.accept(db, publisher, settings, o, "a", match_id, NOW)

    assert (await service.get_mentor(db, o, "a")).held == ()  # type: ignore[union-attr]
    assert await service.current_match(db, o, "sam") is None


async def test_ending_a_match_before_its_acceptance_reached_the_member_respects_their_wish_to_stop(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=1)
    await add_mentor(db, o, "b", capacity=1)
    match_id = (await ask(db, publisher, settings, o, "sam"))["proposal"]["match_id"]
    await service._change_slots(
        db, publisher, o, "a", lambda s: model.accept(s, match_id, NOW)
    )  # settle lost
    pairing = model.Pairing(match_id, o, "a", "sam", NOW)

    await service.end(db, publisher, settings, o, pairing, "member", "not_a_fit", False, NOW)

    member = await service.get_member(db, o, "sam")
    assert member is not None and (member["status"], member["request"]) == ("idle", None)
    assert (await service.get_mentor(db, o, "b")).held == ()  # type: ignore[union-attr]


async def test_a_mentor_may_take_fewer_but_not_raise_their_own_capacity(db: AsyncDatabase) -> None:
    o = org()
    with pytest.raises(model.NotAllowed, match="registers you"):
        await service.save_mentor(db, model.MentorProfile("pat", o, 2), by_mentor=True)
    await add_mentor(db, o, "pat", capacity=2)
    await service.save_mentor(db, model.MentorProfile("pat", o, 1, paused=True), by_mentor=True)
    with pytest.raises(model.NotAllowed, match="capacity"):
        await service.save_mentor(db, model.MentorProfile("pat", o, 3), by_mentor=True)


async def test_a_rematch_proposes_the_whole_waiting_list_its_optimal_assignment(
    db: AsyncDatabase, publisher: EventPublisher, settings: Settings
) -> None:
    o = org()
    await add_mentor(db, o, "a", capacity=1, paused=True)
    await add_mentor(db, o, "b", capacity=1, paused=True)
    # sam fits only a (Spanish); kim fits both, and would take a if served first by waiting order.
    kim = model.Request(new_id(), o, "kim", languages=frozenset({"en", "es"}), requested_at=NOW)
    sam = model.Request(
        new_id(), o, "sam", languages=frozenset({"es"}), requested_at=NOW + dt.timedelta(seconds=1)
    )
    for request in (kim, sam):
        assert (await service.open_request(db, publisher, settings, request, NOW))["status"] == "waiting"
    await add_mentor(db, o, "a", capacity=1, languages=frozenset({"es"}))
    await add_mentor(db, o, "b", capacity=1, languages=frozenset({"en"}))

    outcome = await service.rematch(db, publisher, settings, o, NOW)

    assert (outcome.waiting, outcome.proposed, outcome.still_waiting) == (2, 2, 0)
    proposed = {
        m: (await service.get_member(db, o, m) or {})["proposal"]["mentor_id"] for m in ("kim", "sam")
    }
    assert proposed == {"kim": "b", "sam": "a"}
