"""Check-in use cases: a pair's cadence, check-ins and their risk flag, reading them, the durable
nudges of overdue ones and drift.

Which matches are active is the mentoring core's (services.mentoring.service); a pair's rhythm is
kept here from MatchAccepted and MatchEnded, and created on demand from the core's answer when a
route comes before the event.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from contracts.ids import id_for, new_id
from contracts.meetings import MemberDisengaged
from contracts.mentoring import MatchAccepted, MatchEnded
from services.mentoring import service as mentoring
from services.mentoring.checkins import model, store
from services.mentoring.checkins.model import Cadence, CheckIn, Pair
from services.mentoring.model import Pairing
from services.mentoring.service import utcnow as utcnow  # the routes take the time from here
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared import scheduler
from shared.crypto import Sealer
from shared.http import NotFound, Problem
from shared.messaging.publisher import EventPublisher
from shared.outbox import appended, with_outbox, write_then_publish
from shared.revisions import RACES, REV, Busy, write_revision
from shared.telemetry import FACT_MENTORING_CHECK_IN_OVERDUE, ORG, background_tracer, record_fact

# A check-in's step on its pair is a timer too, due this long after the check-in: the writer cancels
# it when it made the step itself, so it fires only when the writer died in between.
APPLY_GRACE_SECONDS = 60


def rules(settings: Settings) -> model.Rules:
    return model.Rules(
        member_after=timedelta(hours=settings.check_in_nudge_member_after_hours),
        mentor_after=timedelta(hours=settings.check_in_nudge_mentor_after_hours),
        drift_after=settings.missed_check_ins_for_drift,
    )


# The organization's threshold


async def craving_threshold(db: Db, settings: Settings, org: str) -> int:
    return await store.threshold(db, org) or settings.craving_alert_threshold


async def set_craving_threshold(db: Db, org: str, value: int) -> None:
    await store.save_threshold(db, org, value)


# A pair's rhythm


async def _schedule_nudges(db: Db, settings: Settings, pair: Pair) -> None:
    if not pair.active:
        return
    for who, at in model.nudge_times(pair.due_at, rules(settings)).items():
        entry = store.timer_id(pair.org, pair.match_id, pair.due_at, who)
        await scheduler.schedule(
            store.timers(db), entry, at, org=pair.org, match_id=pair.match_id, due_at=pair.due_at, nudge=who
        )


async def _cancel_nudges(db: Db, pair: Pair) -> None:
    for who in ("member", "mentor"):
        await scheduler.cancel(store.timers(db), store.timer_id(pair.org, pair.match_id, pair.due_at, who))


async def start_pair(
    db: Db, settings: Settings, org: str, match_id: str, member_id: str, mentor_id: str, since: datetime
) -> Pair:
    """The pair's rhythm from the start of the match (weekly), and the nudges of its first due time.

    Idempotent: a pair started before (or ended before its start arrived) is left as it is; its
    nudges are scheduled again, which adds nothing when they are there.
    """
    fresh = model.started(org, match_id, member_id, mentor_id, store.to_millis(since))
    # The nudges first: a crash before the insert leaves nudges that find no pair, never a pair without.
    await _schedule_nudges(db, settings, fresh)
    if await store.insert_pair(db, fresh):
        return fresh
    doc = await store.pair_doc(db, org, match_id)
    if doc is None:  # forgotten in between by retention, long after the match ended
        return model.ended(fresh, fresh.since)
    pair = store.to_pair(doc)
    if pair != fresh:
        await _cancel_nudges(db, fresh)
        await _schedule_nudges(db, settings, pair)
    return pair


async def end_pair(
    db: Db, org: str, match_id: str, member_id: str, mentor_id: str, at: datetime | None = None
) -> None:
    """The match ended (at `at`, now if not given): no more check-ins, nudges or drift for it (also
    when it ends before it began here). Its document stays until `store.forget_ended_pairs`."""
    at = store.to_millis(at or utcnow())
    for _ in range(RACES):
        doc = await store.pair_doc(db, org, match_id)
        if doc is None:
            # A tombstone, so a MatchAccepted that arrives after this starts nothing.
            gone = model.ended(model.started(org, match_id, member_id, mentor_id, at), at)
            if await store.insert_pair(db, gone):
                return
            continue
        pair = store.to_pair(doc)
        await _cancel_nudges(db, pair)
        if not pair.active:
            return
        if await write_revision(store.pairs(db), doc["_id"], doc[REV], {"active": False, "ended_at": at}):
            return
    raise Busy(f"a check-in pair of {org} changed under us {RACES} times")


async def on_match_accepted(db: Db, settings: Settings, event: MatchAccepted) -> None:
    d = event.data
    await start_pair(db, settings, event.org, d.match_id, d.member_id, d.mentor_id, event.time)


async def on_match_ended(db: Db, event: MatchEnded) -> None:
    d = event.data
    await end_pair(db, event.org, d.match_id, d.member_id, d.mentor_id, event.time)


async def _active_pair(db: Db, settings: Settings, pairing: Pairing) -> Pair | None:
    doc = await store.pair_doc(db, pairing.org, pairing.match_id)
    if doc is None:  # the match is newer than its MatchAccepted here: start it now
        pair = await start_pair(
            db, settings, pairing.org, pairing.match_id, pairing.member_id, pairing.mentor_id, pairing.since
        )
    else:
        pair = store.to_pair(doc)
    return pair if pair.active else None


async def member_pair(db: Db, settings: Settings, org: str, member_id: str) -> Pair | None:
    """The member's active pair, if they have one."""
    pairing = await mentoring.current_match(db, org, member_id)
    return await _active_pair(db, settings, pairing) if pairing else None


async def pair_of(db: Db, settings: Settings, org: str, caller_id: str, match_id: str) -> Pair:
    """The active match `match_id` when the caller is its member or its mentor; otherwise a 404."""
    candidates = [
        await mentoring.current_match(db, org, caller_id),
        *await mentoring.mentees_of(db, org, caller_id),
    ]
    for pairing in candidates:
        if pairing is not None and pairing.match_id == match_id:
            pair = await _active_pair(db, settings, pairing)
            if pair is not None:
                return pair
    raise NotFound("match")


async def set_cadence(
    db: Db, settings: Settings, org: str, caller_id: str, match_id: str, cadence: Cadence, now: datetime
) -> Pair:
    """Either side of an active match agrees the pair's cadence; the next due time follows it."""
    now = store.to_millis(now)
    for _ in range(RACES):
        pair = await pair_of(db, settings, org, caller_id, match_id)
        doc = await store.pair_doc(db, org, match_id)
        assert doc is not None  # pair_of found or made it
        pair = store.to_pair(doc)
        after = model.with_cadence(pair, cadence, now)
        if after == pair:
            return pair
        await _schedule_nudges(db, settings, after)
        if await write_revision(store.pairs(db), doc["_id"], doc[REV], store.pair_fields(after)):
            if after.due_at != pair.due_at:
                await _cancel_nudges(db, pair)
            return after
    raise Busy(f"a check-in pair of {org} changed under us {RACES} times")


# Check-ins


@dataclass(frozen=True)
class Recorded:
    check_in: CheckIn
    alerted: bool  # a risk answer: crisis was asked for a case
    next_due_at: datetime | None  # None without an active match


async def record_check_in(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    sealer: Sealer,
    *,
    org: str,
    member_id: str,
    mood: int,
    craving: int,
    note: str | None,
    need_help_now: bool,
    now: datetime,
) -> Recorded:
    """The member checks in with their mentor; a risk answer asks crisis for a case in the same write.

    A risk answer is never refused: a member whose proposal is pending, or whose match just ended,
    is asked for all the same (a check-in of no match, theirs to read). Only a check-in that is not
    a risk needs an active match, or it is a 409.
    """
    threshold = await craving_threshold(db, settings, org)
    alerted = model.is_risk(craving, need_help_now, threshold)
    pair = await member_pair(db, settings, org, member_id)
    if pair is None and not alerted:
        raise Problem(409, "Conflict", "you have no active mentor: check-ins start once a mentor accepts")
    check_in = CheckIn(
        id=new_id(),
        org=org,
        match_id=pair.match_id if pair else None,
        member_id=member_id,
        mentor_id=pair.mentor_id if pair else None,
        at=store.to_millis(now),
        mood=mood,
        craving=craving,
        need_help_now=need_help_now,
        note=note or None,
    )
    if pair is not None:
        # Should this writer die before the pair's step below, the scheduler makes that step (see `fire`).
        await _schedule_apply(db, settings, pair, check_in)
    events = [model.alert_event(check_in)] if alerted else []
    sealed = sealer.seal(org, check_in.id, check_in.note) if check_in.note else None
    doc = with_outbox(store.check_in_doc(check_in, sealed), events)
    insert = functools.partial(store.check_ins(db).insert_one, doc)
    # The check-in, and its request to crisis, before anything else that could fail.
    await write_then_publish(store.check_ins(db), check_in.id, events, publisher, insert)
    if pair is None:
        return Recorded(check_in, alerted, None)
    after = await apply_check_in(db, settings, org, pair.match_id, check_in.at)
    await scheduler.cancel(store.timers(db), store.apply_timer_id(org, pair.match_id, check_in.id))
    return Recorded(check_in, alerted, after.due_at if after else pair.due_at)


async def _schedule_apply(db: Db, settings: Settings, pair: Pair, check_in: CheckIn) -> None:
    entry = store.apply_timer_id(pair.org, pair.match_id, check_in.id)
    await scheduler.schedule(
        store.timers(db),
        entry,
        check_in.at + timedelta(seconds=APPLY_GRACE_SECONDS + settings.timer_interval_seconds),
        org=pair.org,
        match_id=pair.match_id,
        check_in_id=check_in.id,
        check_in_at=check_in.at,
    )


async def apply_check_in(db: Db, settings: Settings, org: str, match_id: str, at: datetime) -> Pair | None:
    """Move the pair's due time past a check-in (its `last_check_in_at`, which the nudges and the
    mentor's view read by `_id`) and cancel the nudges it made needless."""
    for _ in range(RACES):
        doc = await store.pair_doc(db, org, match_id)
        if doc is None:
            return None
        pair = store.to_pair(doc)
        after = model.checked_in(pair, at)
        if after == pair or not pair.active:
            return pair
        await _schedule_nudges(db, settings, after)
        if await write_revision(store.pairs(db), doc["_id"], doc[REV], store.pair_fields(after)):
            await _cancel_nudges(db, pair)
            return after
    raise Busy(f"a check-in pair of {org} changed under us {RACES} times")


def _opened(sealer: Sealer, d: dict[str, Any]) -> CheckIn:
    note = sealer.open(d["org"], d["_id"], d["note"]) if d.get("note") else None
    return store.to_check_in(d, note)


async def member_check_ins(db: Db, sealer: Sealer, org: str, member_id: str, limit: int) -> list[CheckIn]:
    """The member's own check-ins, newest first, notes opened for them."""
    return [_opened(sealer, d) for d in await store.of_member(db, org, member_id, limit)]


async def mentee_check_ins(
    db: Db, settings: Settings, sealer: Sealer, org: str, mentor_id: str, match_id: str, limit: int
) -> list[CheckIn]:
    """The check-ins of the mentor's mentee in this active match (not those made with anyone before)."""
    pair = await pair_of(db, settings, org, mentor_id, match_id)
    if pair.mentor_id != mentor_id:
        raise NotFound("match")
    return [_opened(sealer, d) for d in await store.of_match(db, org, match_id, limit)]


# For the mentor's view


async def last_check_in(db: Db, org: str, match_id: str) -> datetime | None:
    """The pair's own record of it (read by `_id`): the check-ins themselves are not searched."""
    doc = await store.pair_doc(db, org, match_id)
    return store.to_pair(doc).last_check_in_at if doc is not None else None


async def overdue(db: Db, org: str, match_ids: Iterable[str], now: datetime) -> set[str]:
    """Which of these active matches have a check-in past its due time."""
    late = set()
    for match_id in match_ids:
        doc = await store.pair_doc(db, org, match_id)
        if doc is not None and doc["active"] and store.utc(doc["due_at"]) < now:
            late.add(match_id)
    return late


# Nudges and drift


async def fire(
    db: Db, publisher: EventPublisher, settings: Settings, entry: dict[str, Any], now: datetime
) -> None:
    """A timer's time came. A nudge: nudge once, or do nothing if a check-in, a new cadence or the
    end of the match came first. Idempotent: it reads the pair as it is, and its events' ids are its
    own. A check-in's step on its pair: make it, if the check-in was written (its writer died)."""
    org, match_id = entry["org"], entry["match_id"]
    if "check_in_id" in entry:
        if await store.check_ins(db).find_one({"_id": entry["check_in_id"], "org": org}, {"_id": 1}):
            await apply_check_in(db, settings, org, match_id, store.utc(entry["check_in_at"]))
        return
    # A timer: no request or message names the organization, this span does (for the fact below).
    with background_tracer().start_as_current_span("check-in nudge", attributes={ORG: org}):
        await _nudge(db, publisher, settings, org, match_id, entry["nudge"], store.utc(entry["due_at"]), now)


async def _nudge(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    match_id: str,
    who: model.Nudge,
    due_at: datetime,
    now: datetime,
) -> None:
    for _ in range(RACES):
        doc = await store.pair_doc(db, org, match_id)
        if doc is None:
            return
        pair = store.to_pair(doc)
        outcome = model.overdue(pair, due_at, who, rules(settings), now)
        if outcome is None:
            return
        after, events = outcome
        await _schedule_nudges(db, settings, after)
        stamp, pending = appended(events)
        write = functools.partial(
            write_revision,
            store.pairs(db),
            doc["_id"],
            doc[REV],
            {**store.pair_fields(after), **stamp},
            pending,
        )
        try:
            if await write_then_publish(store.pairs(db), doc["_id"], events, publisher, write):
                if not pair.nudged:  # the first nudge of this due time: the check-in became overdue
                    record_fact(FACT_MENTORING_CHECK_IN_OVERDUE)
                return
        except DuplicateKeyError:
            return  # another replica holds this very nudge's intent: it publishes it
    raise Busy(f"a check-in pair of {org} changed under us {RACES} times")


async def member_disengaged(db: Db, publisher: EventPublisher, event: MemberDisengaged) -> bool:
    """Meetings saw the member stop coming: tell their mentor, if they have one, and only that; once,
    however late the event comes again (its id is recorded with what it told)."""
    pairing = await mentoring.current_match(db, event.org, event.data.member_id)
    if pairing is None:
        return False
    pair = model.started(pairing.org, pairing.match_id, pairing.member_id, pairing.mentor_id, pairing.since)
    drifting = model.drifting_event(pair, "missed_meetings", id_for(event.time, f"{event.id}#drifting"))
    notices = store.drift_notices(db)
    notice = with_outbox({"_id": event.id, "org": event.org, "at": event.time}, [drifting])
    try:
        await write_then_publish(notices, event.id, [drifting], publisher, lambda: notices.insert_one(notice))
    except DuplicateKeyError:
        return False  # told already
    return True


async def run_timers(
    db: Db, publisher: EventPublisher, settings: Settings, clock: scheduler.Clock = utcnow
) -> None:
    """Check-in nudges on the shared durable scheduler: a restart loses none."""

    async def fire_entry(entry: dict[str, Any]) -> None:
        await fire(db, publisher, settings, entry, clock())

    await scheduler.run(
        store.timers(db),
        fire_entry,
        interval=settings.timer_interval_seconds,
        clock=clock,
        name="check-in nudge",
    )
