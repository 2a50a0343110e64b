"""Milestone documents. A member ref (model.member_ref) is an opaque hash of the organization and the
member id: document ids and timer entries carry it, because ids are logged.

- `recovery_dates`: one per member, `_id` = `<org>/<member ref>`: the time zone, who hears of
  milestones, the current `generation` (one per recovery date set), `next_index` (the milestones
  already passed or announced: the "announced up to" mark) and the pending timer's id. Written by
  revision (shared.revisions), so a timer firing and the member changing their date never both win.
  It holds no date: a revision's claim keeps what it wrote, and a reset must leave no trace of the
  date before it. `pending` lists the generations whose value is being written (each with when),
  `retired` those it pointed at before: the data of both is deleted on the next read of the document
  (service._heal), so a writer that dies midway leaves no date behind for longer than that.
- `recovery_date_values`: the date itself, `_id` = the generation, written once and deleted when the
  member sets another date (or forgets theirs). Nothing else keeps a recovery date.
- `milestone_announcements`: one per milestone announced, `_id` = `<member doc id>/<hash>`, inserted
  once with its `MilestoneReached` in its outbox (a unique insert: a timer fired twice announces once).
  Deleted, with the date, when the member sets another date: their dates would tell the old one.
- `milestone_timers`: the shared scheduler's entries, `{_id, at, org, member_id}` (model.timer_id).
"""

import datetime as dt
import hashlib
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.mentoring.milestones.model import member_ref
from services.mentoring.store import Db
from shared.revisions import REV

Document = dict[str, Any]


async def ensure_indexes(db: Db) -> None:
    await db.milestone_timers.create_index([("at", ASCENDING)])
    await db.milestone_announcements.create_index([("org", ASCENDING), ("member", ASCENDING)])


def recovery_dates(db: Db) -> AsyncCollection[Document]:
    return db.recovery_dates


def values(db: Db) -> AsyncCollection[Document]:
    return db.recovery_date_values


def announcements(db: Db) -> AsyncCollection[Document]:
    return db.milestone_announcements


def timers(db: Db) -> AsyncCollection[Document]:
    return db.milestone_timers


def outbox_collections(db: Db) -> list[AsyncCollection[Document]]:
    """Collections whose documents carry an outbox: the relay (and retention) of main.py reads them."""
    return [announcements(db)]


def member_key(org: str, member_id: str) -> str:
    return f"{org}/{member_ref(org, member_id)}"


async def member(db: Db, org: str, member_id: str) -> Document | None:
    return await recovery_dates(db).find_one({"_id": member_key(org, member_id), "org": org})


async def member_or_new(db: Db, org: str, member_id: str) -> Document:
    """The member's document, created empty (at revision 0) the first time."""
    key = member_key(org, member_id)
    try:
        await recovery_dates(db).insert_one({"_id": key, "org": org, "member_id": member_id, REV: 0})
    except DuplicateKeyError:
        pass
    doc = await recovery_dates(db).find_one({"_id": key})
    assert doc is not None  # inserted just now, or before
    return doc


async def recovery_date(db: Db, org: str, generation: str | None) -> dt.date | None:
    if generation is None:
        return None
    doc = await values(db).find_one({"_id": generation, "org": org})
    return None if doc is None else dt.date.fromisoformat(doc["date"])


async def keep_date(db: Db, org: str, generation: str, date: dt.date) -> None:
    await values(db).insert_one({"_id": generation, "org": org, "date": date.isoformat()})


async def drop_date(db: Db, org: str, generation: str) -> None:
    await values(db).delete_one({"_id": generation, "org": org})


def announcement_id(org: str, member_id: str, generation: str, index: int) -> str:
    digest = hashlib.sha256(f"{generation}/{index}".encode()).hexdigest()[:24]
    return f"{member_key(org, member_id)}/{digest}"


def announcement_doc(org: str, member_id: str, generation: str, index: int) -> Document:
    return {
        "_id": announcement_id(org, member_id, generation, index),
        "org": org,
        "member": member_key(org, member_id),
        "generation": generation,
    }


async def drop_announcements(db: Db, org: str, member_id: str, generations: list[str]) -> None:
    """Forget the member's announcements of these recovery dates (generations)."""
    query: Document = {"org": org, "member": member_key(org, member_id), "generation": {"$in": generations}}
    await announcements(db).delete_many(query)
