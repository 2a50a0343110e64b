"""Notification documents: one per cause event and recipient (its id and a unique index say so), so a
redelivered cause event finds the one it made instead of making another."""

from dataclasses import asdict
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.model import Notification
from shared.outbox import OUTBOX_FIELDS
from shared.storage import OrgCollection

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.notifications.create_index(
        [("org", ASCENDING), ("cause_event_id", ASCENDING), ("recipient_id", ASCENDING)], unique=True
    )
    await db.notifications.create_index(
        [("org", ASCENDING), ("recipient_id", ASCENDING), ("created_at", DESCENDING)]
    )
    await db.notifications.create_index(
        [("recipient_id", ASCENDING), ("team_region", ASCENDING), ("created_at", DESCENDING)]
    )


def notifications(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.notifications, org)


async def inbox(
    db: AsyncDatabase[Document], org: str, recipient_id: str, team_regions: frozenset[str], limit: int
) -> list[Document]:
    """The recipient's notifications in their organization, and those addressed to them as a member
    of the crisis team of one of `team_regions`, whatever organization's case caused them."""
    newest = [("created_at", DESCENDING)]
    if not team_regions:
        return await notifications(db, org).find({"recipient_id": recipient_id}, sort=newest, limit=limit)
    # The one read across organizations: the recipient and the region are both required, so it
    # cannot reach a notification addressed to somebody else or to another region's team.
    query: Document = {
        "recipient_id": recipient_id,
        "$or": [{"org": org}, {"team_region": {"$in": sorted(team_regions)}}],
    }
    return await db.notifications.find(query, sort=newest, limit=limit).to_list()


def to_doc(n: Notification) -> Document:
    doc = asdict(n)
    doc["_id"] = doc.pop("id")
    return doc


def from_doc(doc: Document) -> Notification:
    return Notification(id=doc["_id"], **{k: v for k, v in doc.items() if k not in OUTBOX_FIELDS})
