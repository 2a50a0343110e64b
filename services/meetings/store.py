"""Meeting documents. The directory is public across the network, so listing is not org-scoped."""

from dataclasses import asdict
from datetime import time
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.meetings.model import Meeting
from shared.outbox import OUTBOX_FIELDS
from shared.storage import OrgCollection

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.meetings.create_index([("day", ASCENDING), ("time", ASCENDING)])
    await db.meetings.create_index([("org", ASCENDING), ("slug", ASCENDING)], unique=True)


def meetings(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.meetings, org)


def to_doc(m: Meeting) -> Document:
    doc = asdict(m)
    doc["_id"] = doc.pop("id")
    # BSON has no time-of-day type; "HH:MM" sorts correctly as text.
    doc["time"] = m.time.strftime("%H:%M")
    doc["end_time"] = m.end_time.strftime("%H:%M") if m.end_time else None
    return doc


def from_doc(d: Document) -> Meeting:
    fields = {k: v for k, v in d.items() if k not in OUTBOX_FIELDS}
    fields["time"] = time.fromisoformat(d["time"])
    fields["end_time"] = time.fromisoformat(d["end_time"]) if d.get("end_time") else None
    return Meeting(id=d["_id"], **fields)


async def directory(
    db: AsyncDatabase[Document], *, day: int | None, type_code: str | None, limit: int, skip: int
) -> list[Meeting]:
    """The network-wide directory; public by design (DESIGN.md section 1)."""
    query: Document = {}
    if day is not None:
        query["day"] = day
    if type_code is not None:
        query["types"] = type_code
    cursor = db.meetings.find(
        query, sort=[("day", ASCENDING), ("time", ASCENDING), ("_id", ASCENDING)], skip=skip, limit=limit
    )
    return [from_doc(d) async for d in cursor]
