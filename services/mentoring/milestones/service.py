"""Milestone use cases: a member's recovery date, the timers that announce their milestones, and the
milestones coming up for a mentor's view."""

import datetime as dt
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.errors import DuplicateKeyError

from contracts.ids import new_id
from services.mentoring import service as mentoring
from services.mentoring.milestones import model, store
from services.mentoring.milestones.model import Audience, Milestone
from services.mentoring.service import utcnow as utcnow  # the routes take the time from here
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared import scheduler
from shared.http import Problem
from shared.messaging.publisher import EventPublisher
from shared.outbox import with_outbox, write_then_publish
from shared.revisions import RACES, REV, Busy, change, write_revision

# Longer than any write can take to land (PyMongo gives up far sooner): after it, a pending generation
# is abandoned and a retired one can receive nothing more.
SETTLE = timedelta(minutes=10)


@dataclass(frozen=True)
class Recovery:
    """What the member sees of their own recovery date."""

    recovery_date: dt.date
    time_zone: str
    share_with: Audience
    today: dt.date  # theirs, in their time zone
    reached: list[Milestone]
    next: model.Due | None


def _recovery(date: dt.date, zone: str, share_with: Audience, index: int, now: datetime) -> Recovery:
    tz = ZoneInfo(zone)
    today = model.local_today(now, tz)
    reached = model.milestones_between(date, date, today)
    return Recovery(date, zone, share_with, today, reached, model.due(date, tz, index))


async def _schedule(db: Db, org: str, member_id: str, generation: str, due: model.Due | None) -> str | None:
    if due is None:
        return None
    entry = model.timer_id(org, member_id, generation, due.milestone.index, due.at)
    await scheduler.schedule(store.timers(db), entry, due.at, org=org, member_id=member_id)
    return entry


async def set_recovery(
    db: Db,
    org: str,
    member_id: str,
    recovery_date: dt.date,
    time_zone: str,
    share_with: Audience,
    now: datetime,
) -> Recovery:
    """Set the member's recovery date, time zone and audience.

    A new date is a reset, and private: no event says so, the old date is deleted, and milestones
    start again from the new one without announcing those already passed (on or before the member's
    today). A reset of a date set before also puts `share_with` back to "nobody", whatever was asked:
    a mentor who saw "24h, tomorrow" would know of the relapse. The member chooses again with a
    later request of the same date. The same date again keeps what was announced; a new time zone
    moves the next timer.
    """
    zone = ZoneInfo(time_zone)
    today = model.local_today(now, zone)
    if recovery_date > today:
        raise Problem(422, "Unprocessable Content", "the recovery date is after today in your time zone")
    if recovery_date < model.EARLIEST_RECOVERY:
        raise Problem(422, "Unprocessable Content", f"the recovery date is before {model.EARLIEST_RECOVERY}")
    for _ in range(RACES):
        doc = await store.member_or_new(db, org, member_id)
        await _heal(db, org, member_id, doc)
        current = await store.recovery_date(db, org, doc.get("generation"))
        reset = current != recovery_date
        # "generation" is written by every set and forget, so its presence means a date was set before.
        audience: Audience = "nobody" if reset and "generation" in doc else share_with
        if reset:
            generation, index = new_id(), model.passed_count(recovery_date, today)
            # Reserved before the value exists: a crash after the insert leaves a value the member's
            # document names, so a later read deletes it (`_heal`), never one nobody knows of.
            pending = [*doc.get("pending", []), {"g": generation, "at": utcnow()}]
            if not await write_revision(store.recovery_dates(db), doc["_id"], doc[REV], {"pending": pending}):
                continue
            doc = {**doc, "pending": pending, REV: int(doc[REV]) + 1}
            await store.keep_date(db, org, generation, recovery_date)
        else:
            generation, index = doc["generation"], int(doc["next_index"])
        # The timer first: a crash before the write leaves a timer too many (a no-op), never none.
        entry = await _schedule(db, org, member_id, generation, model.due(recovery_date, zone, index))
        fields = {
            "generation": generation,
            "time_zone": time_zone,
            "share_with": audience,
            "next_index": index,
            "timer": entry,
            "pending": [p for p in doc.get("pending", []) if p["g"] != generation],
            "retired": _retiring(doc, keep=generation),
        }
        if await write_revision(store.recovery_dates(db), doc["_id"], doc[REV], fields):
            await _forget_before(db, org, member_id, doc, {**doc, **fields, REV: int(doc[REV]) + 1})
            return _recovery(recovery_date, time_zone, audience, index, now)
        if reset:
            await store.drop_date(db, org, generation)  # nobody points at it
    raise Busy(f"a recovery date of {org} changed under us {RACES} times")


def _at(entry: dict[str, Any]) -> datetime:
    at: datetime = entry["at"]
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def _retiring(doc: dict[str, Any], keep: str | None) -> list[dict[str, Any]]:
    """The document's retired generations, plus the current one when it is replaced by `keep`."""
    retired = list(doc.get("retired", []))
    old = doc.get("generation")
    if old and old != keep:
        retired.append({"g": old, "at": utcnow()})
    return retired


async def _heal(db: Db, org: str, member_id: str, doc: dict[str, Any]) -> None:
    """Delete the values and announcements of generations the document no longer (or never) points at.

    Self-healing, on every read of the document by set, get and announce: a writer that died after
    its revision write, or an announcement that raced a reset, leaves nothing for longer than the
    next read. A retired generation's data is deleted at once and again at each read until SETTLE has
    passed (an announcement still on its way lands within it); a pending one only once SETTLE has
    passed (its setter may still be committing it). Values go by `_id`; announcements by member, off
    the hot path: only a document that lists something to heal costs anything.
    """
    settled = utcnow() - SETTLE
    retired = [r for r in doc.get("retired", []) if r["g"] != doc.get("generation")]
    pending = list(doc.get("pending", []))
    abandoned = [p for p in pending if _at(p) < settled]
    targets = [e["g"] for e in (*retired, *abandoned)]
    if not targets:
        return
    for generation in targets:
        await store.drop_date(db, org, generation)
    await store.drop_announcements(db, org, member_id, targets)
    fields = {
        "retired": [r for r in retired if _at(r) >= settled],
        "pending": [p for p in pending if _at(p) >= settled],
    }
    if fields != {"retired": doc.get("retired", []), "pending": pending}:
        await write_revision(store.recovery_dates(db), doc["_id"], doc[REV], fields)


async def _forget_before(
    db: Db, org: str, member_id: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """After a write that replaced `before` by `after`: its timer, and a date it no longer points at, go."""
    if before.get("timer") and before["timer"] != after.get("timer"):
        await scheduler.cancel(store.timers(db), before["timer"])
    await _heal(db, org, member_id, after)


async def get_recovery(db: Db, org: str, member_id: str, now: datetime) -> Recovery | None:
    doc = await store.member(db, org, member_id)
    if doc is None:
        return None
    await _heal(db, org, member_id, doc)
    date = await store.recovery_date(db, org, doc.get("generation"))
    if date is None:
        return None
    return _recovery(date, doc["time_zone"], doc["share_with"], int(doc["next_index"]), now)


async def forget_recovery(db: Db, org: str, member_id: str) -> bool:
    """The member takes their recovery date away: it is deleted, and nothing is announced any more."""
    read: list[dict[str, Any]] = []  # the last one is the document the write that landed replaced

    def forget(doc: dict[str, Any]) -> dict[str, Any] | None:
        read.append(doc)
        if doc.get("generation") is None:
            return None
        return {
            "generation": None,
            "next_index": 0,
            "timer": None,
            "share_with": "nobody",
            "retired": _retiring(doc, keep=None),
        }

    written = await change(store.recovery_dates(db), store.member_key(org, member_id), forget)
    if written is None:
        return False
    await _forget_before(db, org, member_id, read[-1], written)
    return True


# Announcing


async def _recipients(db: Db, org: str, member_id: str, audience: Audience) -> list[str]:
    """Who hears of it, from the member's mentoring as it is at the moment of announcing."""
    if audience == "nobody":
        return []
    pairing = await mentoring.current_match(db, org, member_id)
    if pairing is None:
        return []
    circle = (
        [p.member_id for p in await mentoring.mentees_of(db, org, pairing.mentor_id)]
        if audience == "group"
        else []
    )
    return model.recipients(audience, member_id, pairing.mentor_id, circle)


async def announce(db: Db, publisher: EventPublisher, org: str, member_id: str, entry_id: str) -> None:
    """A milestone timer fired: announce the member's next milestone once, and set the timer after it.

    Idempotent (the scheduler may fire an entry twice, and an entry may be left from before a reset
    or a new time zone): only the entry the member's document points at does anything, the
    announcement is a unique insert whose event id comes from the milestone, and the document's
    `next_index` moves past it by revision.
    """
    doc = await store.member(db, org, member_id)
    if doc is None:
        return
    await _heal(db, org, member_id, doc)
    for _ in range(RACES):
        doc = await store.member(db, org, member_id)
        if doc is None or doc.get("timer") != entry_id:
            return
        generation, index = doc["generation"], int(doc["next_index"])
        date = await store.recovery_date(db, org, generation)
        reached = model.milestone(date, index) if date else None
        if date is None or reached is None:
            return
        audience: Audience = doc["share_with"]
        event = model.reached_event(
            org, member_id, date, reached, audience, await _recipients(db, org, member_id, audience)
        )
        announcement = with_outbox(store.announcement_doc(org, member_id, generation, index), [event])
        insert = functools.partial(_insert_if_current, db, org, member_id, generation, announcement)
        try:
            if not await write_then_publish(
                store.announcements(db), announcement["_id"], [event], publisher, insert
            ):
                return  # a reset came meanwhile: its announcement is taken back, and nothing is sent
        except DuplicateKeyError:
            pass  # announced already, by an earlier firing: what is left is moving on
        following = await _schedule(
            db, org, member_id, generation, model.due(date, ZoneInfo(doc["time_zone"]), index + 1)
        )
        fields = {"next_index": index + 1, "timer": following}
        if await write_revision(store.recovery_dates(db), doc["_id"], doc[REV], fields):
            return
    raise Busy(f"a recovery date of {org} changed under us {RACES} times")


async def _insert_if_current(
    db: Db, org: str, member_id: str, generation: str, announcement: dict[str, Any]
) -> bool:
    """Insert an announcement, then take it back (False: nothing is published) if the member's date
    changed meanwhile. A reset deletes the old generation's announcements after its write, so one
    inserted after that delete is seen here, its generation no longer the document's."""
    await store.announcements(db).insert_one(announcement)
    doc = await store.member(db, org, member_id)
    if doc is not None and doc.get("generation") == generation:
        return True
    await store.announcements(db).delete_one({"_id": announcement["_id"], "org": org})
    return False


async def run_timers(
    db: Db, publisher: EventPublisher, settings: Settings, clock: scheduler.Clock = utcnow
) -> None:
    """Announce every member's milestones at their local midnight, on the shared scheduler, so a
    restart loses none."""

    async def fire(entry: dict[str, Any]) -> None:
        await announce(db, publisher, entry["org"], entry["member_id"], entry["_id"])

    await scheduler.run(
        store.timers(db), fire, interval=settings.timer_interval_seconds, clock=clock, name="milestone"
    )


# The mentor's view


async def upcoming(db: Db, org: str, member_ids: list[str], until: dt.date) -> dict[str, tuple[str, dt.date]]:
    """Each member's next milestone reached on or before `until` (their local date), as (code, date):
    only for members who chose to tell someone (share_with is not "nobody")."""
    found: dict[str, tuple[str, dt.date]] = {}
    for member_id in member_ids:
        doc = await store.member(db, org, member_id)
        if doc is None or doc.get("share_with", "nobody") == "nobody":
            continue
        date = await store.recovery_date(db, org, doc.get("generation"))
        reached = model.milestone(date, int(doc["next_index"])) if date else None
        if reached is not None and reached.reached_on <= until:
            found[member_id] = (reached.code, reached.reached_on)
    return found
