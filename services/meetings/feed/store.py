"""Feed documents: which meeting each imported feed slug became.

- `imports`: `_id` = `<org>/<feed slug>`, claimed by a unique insert before the meeting is created, so
  a second import (or a re-run after a crash between the claim and the meeting) finds the same meeting
  instead of creating another.

The feeds written out are read from the directory (services/meetings/directory.py), not from here.
"""

from pymongo.errors import DuplicateKeyError

from services.meetings.store import Db, Document


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
