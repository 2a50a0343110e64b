"""Meeting documents, and the small documents keyed by `_id` that make lookups cheap on the local store.

- `meetings`: one per meeting (`_id` = meeting id), its listing as a sub-document, and `saved_by`,
  the members of its organization who saved it (the people told when it changes).
- `slugs`: `_id` = slug, claimed by a unique insert, so a slug is unique across the network and a
  meeting's public page is found by `_id`.
- `saved`: `_id` = `<org>/<member>`, the meetings a member saved.
"""

import datetime as dt
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.meetings.model import Listing, Meeting, Moved
from shared.storage import OrgCollection

Document = dict[str, Any]
Db = AsyncDatabase[Document]


async def ensure_indexes(db: Db) -> None:
    # Production MongoDB gets what the local store answers by scanning.
    await db.meetings.create_index([("org", ASCENDING), ("status", ASCENDING)])


def meetings(db: Db, org: str) -> OrgCollection:
    return OrgCollection(db.meetings, org)


def to_doc(m: Meeting) -> Document:
    return {
        "_id": m.id,
        "org": m.org,
        "slug": m.slug,
        "status": m.status,
        "updated": m.updated,
        "listing": m.listing.model_dump(mode="json", exclude_defaults=True),
        "cancelled_occurrences": [d.isoformat() for d in m.cancelled_occurrences],
        "moved": [{"occurrence": x.occurrence.isoformat(), "to": x.to.isoformat()} for x in m.moved],
    }


def from_doc(d: Document) -> Meeting:
    return Meeting(
        id=d["_id"],
        org=d["org"],
        slug=d["slug"],
        listing=Listing.model_validate(d["listing"]),
        updated=d["updated"].replace(tzinfo=dt.UTC),
        status=d["status"],
        cancelled_occurrences=tuple(dt.date.fromisoformat(x) for x in d.get("cancelled_occurrences", [])),
        moved=tuple(
            Moved(dt.date.fromisoformat(x["occurrence"]), dt.datetime.fromisoformat(x["to"]))
            for x in d.get("moved", [])
        ),
    )


async def claim_slug(db: Db, slug: str, meeting_id: str, org: str) -> bool:
    """Take a slug for a meeting; False when another meeting has it."""
    try:
        await db.slugs.insert_one({"_id": slug, "meeting_id": meeting_id, "org": org})
    except DuplicateKeyError:
        owner = await db.slugs.find_one({"_id": slug})
        return owner is not None and owner["meeting_id"] == meeting_id
    return True


async def meeting_by_slug(db: Db, slug: str) -> Meeting | None:
    owner = await db.slugs.find_one({"_id": slug})
    doc = await db.meetings.find_one({"_id": owner["meeting_id"]}) if owner else None
    return from_doc(doc) if doc else None


async def meeting_doc(db: Db, meeting_id: str) -> Document | None:
    return await db.meetings.find_one({"_id": meeting_id})


async def org_meetings(db: Db, org: str, *, include_cancelled: bool = False) -> list[Meeting]:
    query: Document = {} if include_cancelled else {"status": "active"}
    docs = await meetings(db, org).find(query, sort=[("_id", ASCENDING)], limit=0)
    return [from_doc(d) for d in docs]


async def save(db: Db, org: str, member: str, meeting_id: str) -> None:
    await meetings(db, org).find_one_and_update({"_id": meeting_id}, {"$addToSet": {"saved_by": member}})
    await db.saved.update_one(
        {"_id": f"{org}/{member}"},
        {"$addToSet": {"meeting_ids": meeting_id}, "$set": {"org": org}},
        upsert=True,
    )


async def unsave(db: Db, org: str, member: str, meeting_id: str) -> None:
    await meetings(db, org).find_one_and_update({"_id": meeting_id}, {"$pull": {"saved_by": member}})
    await db.saved.update_one({"_id": f"{org}/{member}"}, {"$pull": {"meeting_ids": meeting_id}})


async def saved_ids(db: Db, org: str, member: str) -> list[str]:
    doc = await db.saved.find_one({"_id": f"{org}/{member}"})
    return list(doc["meeting_ids"]) if doc else []
