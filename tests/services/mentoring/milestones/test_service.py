"""Milestone timers against the real document store and nats-server."""

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from contracts.ids import new_id
from contracts.mentoring import MENTORING_EVENTS, MilestoneReached
from deploy.local.stack import Stack
from services.mentoring import model as mentoring_model
from services.mentoring import service as mentoring
from services.mentoring import store as mentoring_store
from services.mentoring.milestones import model, service, store
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared.http import Problem
from shared.messaging.broker import make_broker
from shared.messaging.publisher import EventPublisher
from tests.helpers import eventually

KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.fixture
async def db(scratch_db: Db) -> Db:
    await store.ensure_indexes(scratch_db)
    await mentoring_store.ensure_indexes(scratch_db)
    return scratch_db


@pytest.fixture
async def publisher(stack: Stack) -> AsyncIterator[EventPublisher]:
    broker = make_broker(stack.settings("mentoring"))
    pub = EventPublisher(broker, MENTORING_EVENTS)
    await broker.start()
    yield pub
    await broker.stop()


def org_name() -> str:
    return f"org-{new_id()[-6:]}"


async def test_the_timer_announces_the_next_milestone_at_local_midnight_and_sets_the_one_after(
    db: Db, publisher: EventPublisher, admin_nc: NatsClient, stack: Stack
) -> None:
    org, now = org_name(), datetime.now(UTC)
    today = model.local_today(now, KOLKATA)
    recovery = today - timedelta(days=29)  # 24h is behind them; 30 days is tomorrow there
    set_ = await service.set_recovery(db, org, "m1", recovery, "Asia/Kolkata", "mentor", now)
    assert [m.code for m in set_.reached] == ["24h"]
    assert set_.next is not None and set_.next.milestone.code == "30d"
    assert set_.next.at == model.start_of_day(today + timedelta(days=1), KOLKATA)

    # A clock two days ahead: the timer is due, and fires at once.
    timers = asyncio.create_task(
        service.run_timers(
            db,
            publisher,
            Settings(jwt_public_key_file=stack.public_key, timer_interval_seconds=0.2),
            clock=lambda: now + timedelta(days=2),
        )
    )
    try:
        doc = await eventually(lambda: db.recovery_dates.find_one({"org": org, "next_index": 2}), within=10)
    finally:
        timers.cancel()
    stored = await admin_nc.jetstream().get_last_msg("MENTORING", f"rn.{org}.mentoring.milestone_reached.v1")
    event = MilestoneReached.model_validate_json(stored.data or b"")
    assert (event.data.member_id, event.data.milestone) == ("m1", "30d")
    assert event.data.reached_on == today + timedelta(days=1)
    # No active match: there is nobody to tell.
    assert (event.data.audience, event.data.recipient_ids) == ("mentor", [])
    assert str(recovery) not in (stored.data or b"").decode()  # the date itself never travels
    assert doc is not None
    following = await db.milestone_timers.find_one({"_id": doc["timer"]})
    assert following is not None and following["at"] == model.start_of_day(
        recovery + timedelta(days=60), KOLKATA
    )
    assert await db.outbox_intents.count_documents({}) == 0  # published, so settled


async def test_a_timer_fired_twice_at_once_announces_once(db: Db, publisher: EventPublisher) -> None:
    org, now = org_name(), datetime.now(UTC)
    await service.set_recovery(db, org, "m1", model.local_today(now, KOLKATA), "Asia/Kolkata", "nobody", now)
    doc = await store.member(db, org, "m1")
    assert doc is not None
    entry = doc["timer"]
    await asyncio.gather(*(service.announce(db, publisher, org, "m1", entry) for _ in range(3)))
    assert await db.milestone_announcements.count_documents({"org": org}) == 1
    assert (await store.member(db, org, "m1") or {})["next_index"] == 1


async def test_a_reset_is_private_and_leaves_no_trace_of_the_old_date(
    db: Db, publisher: EventPublisher
) -> None:
    org, now = org_name(), datetime.now(UTC)
    today = model.local_today(now, KOLKATA)
    await service.set_recovery(db, org, "m1", today - timedelta(days=400), "Asia/Kolkata", "group", now)
    before = await store.member(db, org, "m1")
    assert before is not None and before["next_index"] == 7  # up to 1y passed when it was set: not announced
    await service.announce(db, publisher, org, "m1", before["timer"])  # 18m, announced
    announced = await store.member(db, org, "m1")
    assert announced is not None and announced["next_index"] == 8

    reset = await service.set_recovery(db, org, "m1", today, "Asia/Kolkata", "group", now)

    after = await store.member(db, org, "m1")
    assert after is not None and after["next_index"] == 0 and reset.reached == []
    assert await db.recovery_date_values.count_documents({"org": org}) == 1  # the new date only
    assert await db.milestone_announcements.count_documents({"org": org}) == 0
    assert await db.milestone_timers.find_one({"_id": announced["timer"]}) is None
    await service.announce(db, publisher, org, "m1", announced["timer"])  # a stale entry: nothing happens
    assert (await store.member(db, org, "m1") or {})["next_index"] == 0
    claims = await db.recovery_dates_claims.find({}).to_list()
    assert claims and not any(str(today - timedelta(days=400)) in str(c) for c in claims)


async def test_the_same_date_again_keeps_what_was_announced_and_a_new_zone_moves_the_timer(
    db: Db,
) -> None:
    org, now = org_name(), datetime.now(UTC)
    recovery = model.local_today(now, KOLKATA) - timedelta(days=10)
    first = await service.set_recovery(db, org, "m1", recovery, "Asia/Kolkata", "mentor", now)
    moved = await service.set_recovery(db, org, "m1", recovery, "Pacific/Auckland", "mentor", now)
    assert first.next is not None and moved.next is not None
    assert first.next.milestone == moved.next.milestone
    assert moved.next.at == model.start_of_day(moved.next.milestone.reached_on, ZoneInfo("Pacific/Auckland"))
    assert await db.milestone_timers.count_documents({"org": org}) == 1


async def test_a_date_after_today_in_the_members_zone_is_refused(db: Db) -> None:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)  # already 2 January in Auckland, still 1 January in New York
    await service.set_recovery(db, org_name(), "m1", dt.date(2025, 1, 2), "Pacific/Auckland", "nobody", now)
    with pytest.raises(Problem):
        await service.set_recovery(
            db, org_name(), "m1", dt.date(2025, 1, 2), "America/New_York", "nobody", now
        )


async def test_upcoming_milestones_are_only_those_of_members_who_chose_to_tell_someone(
    db: Db,
) -> None:
    org, now = org_name(), datetime.now(UTC)
    today = model.local_today(now, KOLKATA)
    for member_id, share in (("m1", "mentor"), ("m2", "nobody"), ("m3", "group")):
        await service.set_recovery(db, org, member_id, today - timedelta(days=25), "Asia/Kolkata", share, now)  # type: ignore[arg-type]
    found = await service.upcoming(db, org, ["m1", "m2", "m3", "m4"], today + timedelta(days=7))
    assert found == {m: ("30d", today + timedelta(days=5)) for m in ("m1", "m3")}
    assert await service.upcoming(db, org, ["m1"], today + timedelta(days=4)) == {}
    assert await service.upcoming(db, "org-other", ["m1"], today + timedelta(days=7)) == {}


async def test_the_group_hears_as_the_mentoring_circle_is_when_the_milestone_comes(
    db: Db, publisher: EventPublisher, admin_nc: NatsClient, stack: Stack
) -> None:
    org, now = org_name(), datetime.now(UTC)
    settings = Settings(jwt_public_key_file=stack.public_key)
    await mentoring.save_mentor(db, mentoring_model.MentorProfile("mentor-a", org, 3))
    for member_id in ("m1", "m2", "m3"):
        request = mentoring_model.Request(id=new_id(), org=org, member_id=member_id, requested_at=now)
        proposed = await mentoring.open_request(db, publisher, settings, request, now)
        await mentoring.accept(
            db, publisher, settings, org, "mentor-a", proposed["proposal"]["match_id"], now
        )
    await service.set_recovery(db, org, "m1", model.local_today(now, KOLKATA), "Asia/Kolkata", "group", now)
    doc = await store.member(db, org, "m1")
    assert doc is not None

    await service.announce(db, publisher, org, "m1", doc["timer"])

    stored = await admin_nc.jetstream().get_last_msg("MENTORING", f"rn.{org}.mentoring.milestone_reached.v1")
    event = MilestoneReached.model_validate_json(stored.data or b"")
    assert (event.data.milestone, event.data.audience) == ("24h", "group")
    assert event.data.recipient_ids == ["mentor-a", "m2", "m3"]


async def test_a_reset_stops_sharing_so_the_mentor_sees_no_24h_tomorrow_until_the_member_shares_again(
    db: Db,
) -> None:
    org, now = org_name(), datetime.now(UTC)
    today = model.local_today(now, KOLKATA)
    await service.set_recovery(db, org, "m1", today - timedelta(days=25), "Asia/Kolkata", "mentor", now)
    assert await service.upcoming(db, org, ["m1"], today + timedelta(days=30)) != {}

    reset = await service.set_recovery(db, org, "m1", today, "Asia/Kolkata", "mentor", now)

    assert reset.share_with == "nobody"
    assert await service.upcoming(db, org, ["m1"], today + timedelta(days=30)) == {}
    assert (await store.member(db, org, "m1") or {})["share_with"] == "nobody"  # so no event names them
    again = await service.set_recovery(db, org, "m1", today, "Asia/Kolkata", "mentor", now)
    assert again.share_with == "mentor"  # the member's own choice, made again
    assert await service.upcoming(db, org, ["m1"], today + timedelta(days=30)) == {
        "m1": ("24h", today + timedelta(days=1))
    }


async def test_the_first_date_set_keeps_the_audience_asked_for(db: Db) -> None:
    org, now = org_name(), datetime.now(UTC)
    first = await service.set_recovery(
        db, org, "m1", model.local_today(now, KOLKATA), "Asia/Kolkata", "group", now
    )
    assert first.share_with == "group"


class Crash(Exception):
    pass


async def test_a_crash_after_a_reset_is_written_leaves_the_old_date_only_until_the_next_read(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, now = org_name(), datetime.now(UTC)
    today = model.local_today(now, KOLKATA)
    await service.set_recovery(db, org, "m1", today - timedelta(days=400), "Asia/Kolkata", "nobody", now)

    async def crash(*_: object) -> None:
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(store, "drop_date", crash)
        with pytest.raises(Crash):
            await service.set_recovery(db, org, "m1", today, "Asia/Kolkata", "nobody", now)

    found = await service.get_recovery(db, org, "m1", now)
    assert found is not None and found.recovery_date == today
    assert [d["date"] for d in await db.recovery_date_values.find({"org": org}).to_list()] == [str(today)]


async def test_a_crash_after_the_new_date_is_kept_leaves_it_only_until_a_read_after_settling(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, now = org_name(), datetime.now(UTC)
    today = model.local_today(now, KOLKATA)
    await service.set_recovery(db, org, "m1", today - timedelta(days=40), "Asia/Kolkata", "nobody", now)
    keep = store.keep_date

    async def keep_then_crash(*args: object) -> None:
        await keep(*args)  # type: ignore[arg-type]
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(store, "keep_date", keep_then_crash)
        with pytest.raises(Crash):
            await service.set_recovery(
                db, org, "m1", today - timedelta(days=3), "Asia/Kolkata", "nobody", now
            )
    assert await db.recovery_date_values.count_documents({"org": org}) == 2

    found = await service.get_recovery(db, org, "m1", now)  # its setter may still be at work: kept
    assert found is not None and found.recovery_date == today - timedelta(days=40)
    assert await db.recovery_date_values.count_documents({"org": org}) == 2
    monkeypatch.setattr(service, "SETTLE", timedelta(0))  # as if ten minutes had passed
    await service.get_recovery(db, org, "m1", now)
    assert [d["date"] for d in await db.recovery_date_values.find({"org": org}).to_list()] == [
        str(today - timedelta(days=40))
    ]
    assert (await store.member(db, org, "m1") or {})["pending"] == []


async def test_an_announcement_that_races_a_reset_is_taken_back_and_never_sent(
    db: Db, publisher: EventPublisher, admin_nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, now = org_name(), datetime.now(UTC)
    today = model.local_today(now, KOLKATA)
    await service.set_recovery(db, org, "m1", today - timedelta(days=1), "Asia/Kolkata", "mentor", now)
    doc = await store.member(db, org, "m1")
    assert doc is not None
    recipients = service._recipients

    async def reset_meanwhile(*args: object) -> list[str]:
        # The member resets while the timer is working out who hears of their 30 days.
        await service.set_recovery(db, org, "m1", today, "Asia/Kolkata", "nobody", now)
        return await recipients(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "_recipients", reset_meanwhile)
    await service.announce(db, publisher, org, "m1", doc["timer"])

    assert await db.milestone_announcements.count_documents({"org": org}) == 0
    assert await db.outbox_intents.count_documents({"doc": {"$regex": f"^{org}/"}}) == 0
    with pytest.raises(NotFoundError):
        await admin_nc.jetstream().get_last_msg("MENTORING", f"rn.{org}.mentoring.milestone_reached.v1")
    after = await store.member(db, org, "m1")
    assert after is not None and after["next_index"] == 0 and after["generation"] != doc["generation"]
