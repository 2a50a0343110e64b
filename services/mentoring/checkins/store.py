"""Check-in documents (database `rn_mentoring`). Every one carries `org`.

- `check_in_pairs`: one per match, `_id` = `<org>/<match id>`: the agreed cadence, the next due
  time, the last check-in's time, the run of missed ones, when the match ended, and the events of
  nudges and drift in its outbox. Written by revision (shared.revisions): a check-in, a nudge and a
  new cadence may land at once. The hot reads (timers, the mentor's view) read it by `_id` only:
  the local store scans a collection for any other filter. Ended ones go with
  `forget_ended_pairs`.
- `check_ins`: one per check-in, `_id` = its id, inserted once with its `CrisisAlertRequested` (a risk
  answer) in its outbox. The note is sealed (shared.crypto) under the organization and the check-in id.
  A risk answer from a member with no active match has no `match_id` or `mentor_id`.
- `check_in_timers`: the shared scheduler's entries. A nudge: `{_id, at, org, match_id, due_at,
  nudge}`, `_id` = `<org>/<match id>@<due time>#<nudge>`: scheduling the same nudge again adds
  nothing. A check-in's step on its pair, should its writer die: `{_id, at, org, match_id,
  check_in_id, check_in_at}`, `_id` = `<org>/<match id>@<check-in id>#apply`.
- `check_in_settings`: one per organization, `_id` = the org: its craving alert threshold.

Outbox collections: `check_in_pairs`, `check_ins`.
"""

import datetime as dt
from typing import Any, cast

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.mentoring.checkins.model import CheckIn, Nudge, Pair
from services.mentoring.store import Db
from shared.retention import delete_with_claims
from shared.revisions import REV
from shared.storage import OrgCollection

Document = dict[str, Any]


async def ensure_indexes(db: Db) -> None:
    await db.check_ins.create_index([("org", ASCENDING), ("member_id", ASCENDING), ("at", DESCENDING)])
    await db.check_ins.create_index([("org", ASCENDING), ("match_id", ASCENDING), ("at", DESCENDING)])
    await db.check_in_timers.create_index([("at", ASCENDING)])


def pairs(db: Db) -> AsyncCollection[Document]:
    return db.check_in_pairs


def check_ins(db: Db) -> AsyncCollection[Document]:
    return db.check_ins


def timers(db: Db) -> AsyncCollection[Document]:
    return db.check_in_timers


def settings(db: Db) -> AsyncCollection[Document]:
    return db.check_in_settings


def drift_notices(db: Db) -> AsyncCollection[Document]:
    """One document per MemberDisengaged told to a mentor, keyed by that event's id: the record that
    makes a redelivery of it (however late) tell nobody twice, and the outbox of what it told."""
    return db.drift_notices


def outbox_collections(db: Db) -> list[AsyncCollection[Document]]:
    return [pairs(db), check_ins(db), drift_notices(db)]


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def to_millis(value: dt.datetime) -> dt.datetime:
    """What BSON keeps: a time computed from a stored one then equals it, and so do ids made from it."""
    return utc(value).replace(microsecond=value.microsecond // 1000 * 1000)


def pair_key(org: str, match_id: str) -> str:
    return f"{org}/{match_id}"


def pair_fields(p: Pair) -> Document:
    return {
        "org": p.org,
        "match_id": p.match_id,
        "member_id": p.member_id,
        "mentor_id": p.mentor_id,
        "since": p.since,
        "cadence": p.cadence,
        "due_at": p.due_at,
        "active": p.active,
        "last_check_in_at": p.last_check_in_at,
        "missed": p.missed,
        "nudged": list(p.nudged),
        "drifting": p.drifting,
        "ended_at": p.ended_at,
    }


def to_pair(d: Document) -> Pair:
    last, ended_at = d.get("last_check_in_at"), d.get("ended_at")
    return Pair(
        org=d["org"],
        match_id=d["match_id"],
        member_id=d["member_id"],
        mentor_id=d["mentor_id"],
        since=utc(d["since"]),
        cadence=d["cadence"],
        due_at=utc(d["due_at"]),
        active=bool(d["active"]),
        last_check_in_at=utc(last) if last else None,
        missed=int(d.get("missed", 0)),
        nudged=tuple(cast(list[Nudge], d.get("nudged", []))),
        drifting=bool(d.get("drifting")),
        ended_at=utc(ended_at) if ended_at else None,
    )


async def pair_doc(db: Db, org: str, match_id: str) -> Document | None:
    return await pairs(db).find_one({"_id": pair_key(org, match_id), "org": org})


async def insert_pair(db: Db, p: Pair) -> bool:
    """False when the match has a document already (started before, or ended before it started)."""
    try:
        await pairs(db).insert_one({"_id": pair_key(p.org, p.match_id), REV: 0, **pair_fields(p)})
    except DuplicateKeyError:
        return False
    return True


def check_in_doc(c: CheckIn, sealed_note: str | None) -> Document:
    return {
        "_id": c.id,
        "org": c.org,
        "match_id": c.match_id,
        "member_id": c.member_id,
        "mentor_id": c.mentor_id,
        "at": c.at,
        "mood": c.mood,
        "craving": c.craving,
        "need_help_now": c.need_help_now,
        "note": sealed_note,
    }


def to_check_in(d: Document, note: str | None) -> CheckIn:
    return CheckIn(
        id=d["_id"],
        org=d["org"],
        match_id=d.get("match_id"),
        member_id=d["member_id"],
        mentor_id=d.get("mentor_id"),
        at=utc(d["at"]),
        mood=int(d["mood"]),
        craving=int(d["craving"]),
        need_help_now=bool(d["need_help_now"]),
        note=note,
    )


async def of_member(db: Db, org: str, member_id: str, limit: int) -> list[Document]:
    return await OrgCollection(check_ins(db), org).find(
        {"member_id": member_id}, sort=[("at", DESCENDING)], limit=limit
    )


async def of_match(db: Db, org: str, match_id: str, limit: int) -> list[Document]:
    return await OrgCollection(check_ins(db), org).find(
        {"match_id": match_id}, sort=[("at", DESCENDING)], limit=limit
    )


async def forget_ended_pairs(db: Db, before: dt.datetime) -> int:
    """Delete the pairs of matches that ended before `before`, with their revision claims; returns
    how many. Those ended before `ended_at` was kept count from their last due time, later than
    any check-in or nudge of theirs."""
    ended = await delete_with_claims(pairs(db), {"active": False, "ended_at": {"$lt": before}})
    legacy = {"active": False, "ended_at": None, "due_at": {"$lt": before}}
    return ended + await delete_with_claims(pairs(db), legacy)


async def threshold(db: Db, org: str) -> int | None:
    doc = await settings(db).find_one({"_id": org, "org": org})
    return int(doc["craving_alert_threshold"]) if doc else None


async def save_threshold(db: Db, org: str, value: int) -> None:
    await settings(db).update_one(
        {"_id": org}, {"$set": {"org": org, "craving_alert_threshold": value}}, upsert=True
    )


def timer_id(org: str, match_id: str, due_at: dt.datetime, who: Nudge) -> str:
    return f"{pair_key(org, match_id)}@{utc(due_at).isoformat()}#{who}"


def apply_timer_id(org: str, match_id: str, check_in_id: str) -> str:
    return f"{pair_key(org, match_id)}@{check_in_id}#apply"
