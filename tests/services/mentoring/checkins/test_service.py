"""Check-ins against the real document store and nats-server: the check-in and its crisis request in
one write, reading them, and the durable nudges firing."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.ids import new_id
from contracts.meetings import MemberDisengaged, MemberDisengagedData
from contracts.mentoring import (
    MENTORING_EVENTS,
    CheckInOverdue,
    CrisisAlertRequested,
    MenteeDrifting,
)
from deploy.local.stack import Stack
from services.mentoring import model as core
from services.mentoring import service as mentoring
from services.mentoring import store as core_store
from services.mentoring.checkins import service, store
from services.mentoring.checkins.model import CheckIn
from services.mentoring.settings import Settings
from shared.http import NotFound, Problem
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher
from shared.revisions import CLAIMS_SUFFIX
from tests.helpers import eventually


@pytest.fixture
async def db(scratch_db: AsyncDatabase[Any]) -> AsyncDatabase[Any]:
    await core_store.ensure_indexes(scratch_db)
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
    # Nudges a second and two after the due time, and drift at the first missed one.
    return Settings(
        jwt_public_key_file=stack.public_key,
        check_in_nudge_member_after_hours=1 / 3600,
        check_in_nudge_mentor_after_hours=2 / 3600,
        missed_check_ins_for_drift=1,
        timer_interval_seconds=0.2,
    )


async def active_match(
    db: AsyncDatabase[Any], publisher: EventPublisher, settings: Settings, org: str, member: str, mentor: str
) -> str:
    """A match made and accepted through the mentoring core."""
    now = service.utcnow()
    await mentoring.save_mentor(db, core.MentorProfile(mentor, org, capacity=2))
    proposed = await mentoring.open_request(db, publisher, settings, core.Request(new_id(), org, member), now)
    match_id = str(proposed["proposal"]["match_id"])
    await mentoring.accept(db, publisher, settings, org, mentor, match_id, now)
    return match_id


async def last_event(nc: NatsClient, org: str, name: str) -> bytes:
    stored = await nc.jetstream().get_last_msg("MENTORING", f"rn.{org}.mentoring.{name}.v1")
    return stored.data or b""


async def test_a_check_in_saying_help_now_is_sealed_and_asks_crisis_in_the_same_write(
    db: AsyncDatabase[Any], publisher: EventPublisher, settings: Settings, admin_nc: NatsClient
) -> None:
    org = f"org-{new_id()[-6:]}"
    sealer = settings.notes_sealer()
    match_id = await active_match(db, publisher, settings, org, "member-1", "mentor-1")
    await active_match(db, publisher, settings, org, "member-2", "mentor-2")

    recorded = await service.record_check_in(
        db, publisher, settings, sealer, org=org, member_id="member-1", mood=2, craving=3,
        note="a hard night", need_help_now=True, now=service.utcnow(),
    )  # fmt: skip

    assert recorded.alerted and recorded.check_in.match_id == match_id
    doc = await db.check_ins.find_one({"_id": recorded.check_in.id})
    assert doc is not None and "a hard night" not in str(doc)  # sealed at rest
    (entry,) = doc["outbox"]
    assert entry["type"] == "mentoring.crisis_alert_requested.v1"
    assert await db.outbox_intents.count_documents({"doc": doc["_id"]}) == 0  # published
    alert = CrisisAlertRequested.model_validate_json(
        await last_event(admin_nc, org, "crisis_alert_requested")
    )
    assert alert.id == entry["id"]
    assert (alert.data.member_id, alert.data.severity, alert.data.reason) == (
        "member-1",
        "imminent",
        "risk_flag",
    )
    assert "hard night" not in alert.model_dump_json()
    assert recorded.next_due_at == recorded.check_in.at + timedelta(days=7)

    # The member and their mentor read it; the note is opened for them. Nobody else does.
    (mine,) = await service.member_check_ins(db, sealer, org, "member-1", 10)
    (theirs,) = await service.mentee_check_ins(db, settings, sealer, org, "mentor-1", match_id, 10)
    assert mine.note == theirs.note == "a hard night"
    for reader, other_org in (("mentor-2", org), ("member-1", org), ("mentor-1", "org-other")):
        with pytest.raises(NotFound):
            await service.mentee_check_ins(db, settings, sealer, other_org, reader, match_id, 10)
    assert await service.member_check_ins(db, sealer, org, "member-2", 10) == []

    # A calm check-in asks nothing; the organization's own threshold decides what is strong.
    calm = await service.record_check_in(
        db, publisher, settings, sealer, org=org, member_id="member-2", mood=4, craving=6,
        note=None, need_help_now=False, now=service.utcnow(),
    )  # fmt: skip
    assert not calm.alerted
    await service.set_craving_threshold(db, org, 6)
    strong = await service.record_check_in(
        db, publisher, settings, sealer, org=org, member_id="member-2", mood=4, craving=6,
        note=None, need_help_now=False, now=service.utcnow(),
    )  # fmt: skip
    assert strong.alerted
    high = CrisisAlertRequested.model_validate_json(await last_event(admin_nc, org, "crisis_alert_requested"))
    assert (high.data.member_id, high.data.severity) == ("member-2", "high")

    assert await service.last_check_in(db, org, match_id) == recorded.check_in.at
    assert await service.overdue(db, org, [match_id], service.utcnow()) == set()
    assert await service.overdue(db, org, [match_id], service.utcnow() + timedelta(days=8)) == {match_id}


async def test_an_overdue_check_in_nudges_the_member_then_the_mentor_and_a_check_in_stops_them(
    db: AsyncDatabase[Any], publisher: EventPublisher, settings: Settings, admin_nc: NatsClient
) -> None:
    org = f"org-{new_id()[-6:]}"
    week = timedelta(days=7)
    # Both first check-ins are due now: their matches began a week ago.
    since = service.utcnow() - week
    silent = await service.start_pair(db, settings, org, "match-silent", "member-1", "mentor-1", since)
    keeping = await service.start_pair(db, settings, org, "match-keeping", "member-2", "mentor-2", since)
    assert await db.check_in_timers.count_documents({"org": org}) == 4
    timers = asyncio.create_task(service.run_timers(db, publisher, settings))
    try:
        # The second member checks in after their nudge; the first never does.
        async def member_nudged() -> bool:
            doc = await store.pair_doc(db, org, "match-keeping")
            return doc is not None and doc["nudged"] == ["member"]

        await eventually(member_nudged, within=10)
        await service.apply_check_in(db, settings, org, "match-keeping", service.utcnow())

        async def drifting() -> list[dict[str, Any]]:
            doc = await store.pair_doc(db, org, "match-silent")
            return [e for e in (doc or {}).get("outbox", []) if "drifting" in e["type"]] or []

        await eventually(drifting, within=10)
        await asyncio.sleep(1.5)  # the kept pair's mentor nudge time passes
    finally:
        timers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timers

    silent_doc = await store.pair_doc(db, org, "match-silent")
    assert silent_doc is not None
    types = [e["type"].split(".")[1] for e in silent_doc["outbox"]]
    assert types == ["check_in_overdue", "check_in_overdue", "mentee_drifting"]
    overdue = [CheckInOverdue.model_validate_json(e["payload"]) for e in silent_doc["outbox"][:2]]
    assert [o.data.nudge for o in overdue] == ["member", "mentor"]
    assert {o.data.due_at for o in overdue} == {silent.due_at}
    assert (silent_doc["missed"], silent_doc["due_at"]) == (1, silent.due_at + week)
    drift = MenteeDrifting.model_validate_json(await last_event(admin_nc, org, "mentee_drifting"))
    assert (drift.data.match_id, drift.data.mentor_id, drift.data.signal) == (
        "match-silent",
        "mentor-1",
        "missed_check_ins",
    )

    kept = await store.pair_doc(db, org, "match-keeping")
    assert kept is not None and [e["type"] for e in kept.get("outbox", [])] == [
        "mentoring.check_in_overdue.v1"
    ]
    assert kept["missed"] == 0 and store.utc(kept["due_at"]) > keeping.due_at
    # What is left to fire: the next due time of each pair, nothing of the old ones.
    left = {d["_id"] async for d in db.check_in_timers.find({"org": org})}
    assert not any(keeping.due_at.isoformat() in t or silent.due_at.isoformat() in t for t in left)

    # A nudge fired again (a second replica, a crash before the delete) changes nothing.
    entry = {"org": org, "match_id": "match-silent", "due_at": silent.due_at, "nudge": "mentor"}
    await service.fire(db, publisher, settings, entry, service.utcnow())
    again = await store.pair_doc(db, org, "match-silent")
    assert again is not None and len(again["outbox"]) == 3

    # The match ends: its nudges go, and a late one does nothing.
    await service.end_pair(db, org, "match-silent", "member-1", "mentor-1")
    assert not [t for t in left if "match-silent" in t and await db.check_in_timers.find_one({"_id": t})]
    late = {**entry, "due_at": silent.due_at + week, "nudge": "member"}
    await service.fire(db, publisher, settings, late, service.utcnow())
    ended = await store.pair_doc(db, org, "match-silent")
    assert ended is not None and ended["active"] is False and len(ended["outbox"]) == 3


async def test_a_member_with_no_active_match_who_needs_help_is_answered_and_crisis_is_asked(
    db: AsyncDatabase[Any], publisher: EventPublisher, settings: Settings, admin_nc: NatsClient
) -> None:
    org = f"org-{new_id()[-6:]}"
    sealer = settings.notes_sealer()
    now = service.utcnow()
    # member-1's proposal waits for the mentor; member-2's match just ended; member-3 never asked.
    await mentoring.save_mentor(db, core.MentorProfile("mentor-1", org, capacity=1))
    await mentoring.open_request(db, publisher, settings, core.Request(new_id(), org, "member-1"), now)
    match_id = await active_match(db, publisher, settings, org, "member-2", "mentor-2")
    await service.end_pair(db, org, match_id, "member-2", "mentor-2", now)

    async def check_in(member_id: str, craving: int, need_help_now: bool) -> service.Recorded:
        return await service.record_check_in(
            db, publisher, settings, sealer, org=org, member_id=member_id, mood=1, craving=craving,
            note="alone tonight", need_help_now=need_help_now, now=service.utcnow(),
        )  # fmt: skip

    for member_id, craving, need_help_now, severity in (
        ("member-1", 0, True, "imminent"),
        ("member-2", 0, True, "imminent"),
        ("member-3", 9, False, "high"),
    ):
        recorded = await check_in(member_id, craving, need_help_now)
        assert recorded.alerted
        assert (recorded.check_in.match_id, recorded.check_in.mentor_id, recorded.next_due_at) == (
            None,
            None,
            None,
        )
        doc = await db.check_ins.find_one({"_id": recorded.check_in.id})
        assert doc is not None and "alone tonight" not in str(doc)
        alert = CrisisAlertRequested.model_validate_json(
            await last_event(admin_nc, org, "crisis_alert_requested")
        )
        assert alert.id == doc["outbox"][0]["id"]
        assert (alert.data.member_id, alert.data.severity) == (member_id, severity)
        (mine,) = await service.member_check_ins(db, sealer, org, member_id, 10)
        assert mine.note == "alone tonight"

    # Only a check-in that is not a risk needs a mentor to check in with.
    with pytest.raises(Problem) as refused:
        await check_in("member-1", 2, False)
    assert refused.value.status == 409
    assert len(await service.member_check_ins(db, sealer, org, "member-1", 10)) == 1


async def test_a_check_in_whose_writer_died_before_its_pairs_step_is_applied_by_the_scheduler(
    db: AsyncDatabase[Any], publisher: EventPublisher, settings: Settings
) -> None:
    org = f"org-{new_id()[-6:]}"
    since = service.utcnow() - timedelta(days=1)
    pair = await service.start_pair(db, settings, org, "match-1", "member-1", "mentor-1", since)
    at = store.to_millis(service.utcnow())
    check_in = CheckIn(new_id(), org, "match-1", "member-1", "mentor-1", at, 3, 1, False, None)
    # The writer scheduled the step and inserted the check-in, then died.
    await service._schedule_apply(db, settings, pair, check_in)
    await db.check_ins.insert_one(store.check_in_doc(check_in, None))
    assert await service.last_check_in(db, org, "match-1") is None  # the pair's own record, not a search
    (entry,) = await db.check_in_timers.find({"_id": {"$regex": "#apply$"}, "org": org}).to_list()
    await service.fire(db, publisher, settings, entry, service.utcnow())
    assert await service.last_check_in(db, org, "match-1") == at
    after = await store.pair_doc(db, org, "match-1")
    assert after is not None and store.utc(after["due_at"]) == at + timedelta(days=7)

    # A step whose check-in was never written changes nothing; a whole check-in leaves no step behind.
    ghost = {**entry, "check_in_id": new_id(), "check_in_at": at + timedelta(hours=1)}
    await service.fire(db, publisher, settings, ghost, service.utcnow())
    assert await service.last_check_in(db, org, "match-1") == at
    match_id = await active_match(db, publisher, settings, org, "member-2", "mentor-2")
    recorded = await service.record_check_in(
        db, publisher, settings, settings.notes_sealer(), org=org, member_id="member-2", mood=4,
        craving=0, note=None, need_help_now=False, now=service.utcnow(),
    )  # fmt: skip
    assert await service.last_check_in(db, org, match_id) == recorded.check_in.at
    assert await db.check_in_timers.count_documents({"_id": {"$regex": f"{match_id}@.*#apply$"}}) == 0


async def test_pairs_of_matches_ended_before_the_retention_age_are_forgotten_with_their_claims(
    db: AsyncDatabase[Any], settings: Settings
) -> None:
    org = f"org-{new_id()[-6:]}"
    now = service.utcnow()
    since = now - timedelta(days=900)
    for match_id in ("match-old", "match-recent", "match-active"):
        await service.start_pair(db, settings, org, match_id, f"member-{match_id}", "mentor-1", since)
    await service.end_pair(db, org, "match-old", "member-match-old", "mentor-1", now - timedelta(days=800))
    await service.end_pair(
        db, org, "match-recent", "member-match-recent", "mentor-1", now - timedelta(days=10)
    )
    claims = db[f"check_in_pairs{CLAIMS_SUFFIX}"]
    assert await claims.count_documents({"_id": {"$regex": f"^{org}/match-old:"}}) > 0

    assert await store.forget_ended_pairs(db, now - timedelta(days=730)) >= 1
    left = {d["match_id"] async for d in db.check_in_pairs.find({"org": org})}
    assert left == {"match-recent", "match-active"}
    assert await claims.count_documents({"_id": {"$regex": f"^{org}/match-old:"}}) == 0


async def test_a_member_who_stopped_coming_is_told_to_their_mentor_once_however_late_it_comes_again(
    db: AsyncDatabase[Any], publisher: EventPublisher, settings: Settings, admin_nc: NatsClient
) -> None:
    org = f"org-{new_id()[-6:]}"
    match_id = await active_match(db, publisher, settings, org, "member-1", "mentor-1")
    data = MemberDisengagedData(member_id="member-1", weeks=3, last_attended=None, usual_meeting_ids=["m1"])
    disengaged = MemberDisengaged.create(source="meetings", org=org, subject="member-1", data=data)

    assert await service.member_disengaged(db, publisher, disengaged) is True
    # The same event again, after JetStream's duplicate window (a redelivery, a dead letter replayed).
    assert await service.member_disengaged(db, publisher, disengaged) is False

    told = json.loads(await last_event(admin_nc, org, "mentee_drifting"))
    assert (told["data"]["match_id"], told["data"]["signal"]) == (match_id, "missed_meetings")
    assert await db.drift_notices.count_documents({"org": org}) == 1
