"""Feed documents: which meeting each imported feed slug became, and the meetings a feed lists.

- `imports`: `_id` = `<org>/<feed slug>`, claimed by a unique insert before the meeting is created, so
  a second import (or a re-run after a crash between the claim and the meeting) finds the same meeting
  instead of creating another.
"""

from collections.abc import AsyncIterator

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.meetings import store
from services.meetings.model import Meeting
from services.meetings.store import Db, Document

BATCH = 500  # meetings read per round trip when a feed is written out


def import_key(org: str, slug: str) -> str:
    return f"{org}/{slug}"


async def imported_meeting(db: Db, org: str, slug: str) -> str | None:
    doc = await db.imports.find_one({"_id": import_key(org, slug), "org": org})
    return str(doc["meeting_id"]) if doc else None


async def claim_import(db: Db, org: str, slug: str, meeting_id: str) -> str:
    """The meeting this feed slug stands for: `meeting_id` if this call claimed it, else the earlier one."""
    try:
        await db.imports.insert_one({"_id": import_key(org, slug), "org": org, "meeting_id": meeting_id})
    except DuplicateKeyError:
        found = await imported_meeting(db, org, slug)
        if found is None:  # another organization's key cannot have this _id: it starts with the org
            raise
        return found
    return meeting_id


async def slug_owner(db: Db, slug: str) -> Document | None:
    return await db.slugs.find_one({"_id": slug})


async def listed(db: Db, org: str | None) -> AsyncIterator[Meeting]:
    """The active meetings of one organization (or of the network), read in batches, oldest first."""
    query: Document = {"status": "active", **({"org": org} if org else {})}
    cursor = db.meetings.find(query, sort=[("_id", ASCENDING)], batch_size=BATCH)
    async for doc in cursor:
        yield store.from_doc(doc)
